#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/exception_message.hpp"
#include "coffeeshop/util/ids.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

using namespace coffeeshop;

TEST_CASE("util: now_ms is the wall clock", "[util]") {
  const auto now = now_ms();
  CHECK(now > 1'700'000'000'000); // after 2023-11
  CHECK(now < 4'102'444'800'000); // before 2100
}

TEST_CASE("util: format_rfc3339", "[util]") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(1795514130123) == "2026-11-24T09:55:30.123Z");
  CHECK(format_rfc3339(951782400005) == "2000-02-29T00:00:00.005Z");
  CHECK(format_rfc3339(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(253402300799999) == "9999-12-31T23:59:59.999Z");
}

TEST_CASE("util: parse_http_date", "[util]") {
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::optional<int64_t>(784111777000));
  CHECK(parse_http_date("  Thu, 01 Jan 1970 00:00:00 GMT ") == std::optional<int64_t>(0));
  CHECK(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT") == std::optional<int64_t>(951825600000));
  CHECK(format_rfc3339(*parse_http_date("Tue, 24 Nov 2026 09:55:30 GMT")) ==
        "2026-11-24T09:55:30.000Z");
  for (const char* bad : {"", "120", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
                          "Mon, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                          "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
                          "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 19x4 08:49:37 GMT"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_date(bad).has_value());
  }
}

TEST_CASE("util: parse_http_date edge cases the retry policy relies on", "[util]") {
  // RFC 7231's time-of-day admits a leap second.
  CHECK(parse_http_date("Wed, 31 Dec 2025 23:59:60 GMT") == std::optional<int64_t>(1767225600000));
  CHECK(parse_http_date("\tThu, 29 Feb 2024 00:00:00 GMT\t") ==
        std::optional<int64_t>(1709164800000));
  // Spelling only: a weekday that does not match the date is not checked.
  CHECK(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT") == std::optional<int64_t>(784111777000));
  for (const char* bad : {"Fri, 29 Feb 2026 10:15:30 GMT", "Tue, 24 Nov 2026 10:15:3 GMT",
                          "Tue, 24 Nov 26 10:15:30 GMT", "Tue, 24 Nov 2026 10:15:30 GMT x",
                          "Tue,  24 Nov 2026 10:15:30 GMT", "tue, 24 Nov 2026 10:15:30 GMT",
                          "Tue, 24 nov 2026 10:15:30 GMT", "Tue, 24 Nov 2026 10:15:30  GMT"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_date(bad).has_value());
  }
}

TEST_CASE("util: make_uuid is a v4 uuid", "[util]") {
  const std::regex shape("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto id = make_uuid();
    INFO(id);
    CHECK(std::regex_match(id, shape));
    seen.insert(id);
  }
  CHECK(seen.size() == 200);

  // Other threads get their own generator, not a copy of this one's state.
  std::string other;
  std::thread([&] { other = make_uuid(); }).join();
  CHECK(seen.count(other) == 0);
}

TEST_CASE("util: make_order_id sorts by creation time", "[util]") {
  const std::regex shape("^ord_[0-9a-f]{20}$");
  const auto before = now_ms();
  const auto id = make_order_id();
  const auto after = now_ms();
  REQUIRE(std::regex_match(id, shape));
  const auto ms = std::stoll(id.substr(4, 12), nullptr, 16);
  CHECK(ms >= before);
  CHECK(ms <= after);

  const auto first = make_order_id();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  const auto second = make_order_id();
  CHECK(first < second);
  CHECK(make_order_id() != make_order_id());
}

TEST_CASE("util: traceparent parsing keeps a valid context", "[util]") {
  const auto ctx = trace_context::from_header_or_new(
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  CHECK(ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(ctx.span_id == "00f067aa0ba902b7");
  CHECK(ctx.flags == "01");
  CHECK(ctx.to_header() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  const auto unsampled = trace_context::from_header_or_new(
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  CHECK(unsampled.flags == "00");
  const auto child = unsampled.child();
  CHECK(child.trace_id == unsampled.trace_id);
  CHECK(child.span_id != unsampled.span_id);
  CHECK(child.flags == "00");
  CHECK(child.to_header().substr(0, 36) == "00-4bf92f3577b34da6a3ce929d0e0e4736-");

  // A future version with the same layout is accepted.
  CHECK(trace_context::from_header_or_new("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
          .trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("util: invalid traceparent yields a fresh context", "[util]") {
  const std::regex shape("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$");
  const char* invalid[] = {
    "",
    "garbage",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short trace
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
    "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
  };
  for (const char* header : invalid) {
    INFO(header);
    const auto ctx = trace_context::from_header_or_new(header);
    CHECK(ctx.trace_id != "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(std::regex_match(ctx.to_header(), shape));
  }
  const auto a = trace_context::make_new();
  const auto b = trace_context::make_new();
  CHECK(a.trace_id != b.trace_id);
  CHECK(std::regex_match(a.to_header(), shape));
}

TEST_CASE("util: mask_email", "[util]") {
  CHECK(mask_email("ana@example.com") == "a***@example.com");
  CHECK(mask_email("a@b.c") == "a***@b.c");
  CHECK(mask_email("@example.com") == "***@example.com");
  CHECK(mask_email("no-at-sign") == "***");
  CHECK(mask_email("") == "***");
  CHECK(mask_email("x@y@example.com") == "x***@example.com");
  CHECK(mask_email("\xc3\xa9lodie@example.com") == "\xc3\xa9***@example.com"); // whole UTF-8 char
}

TEST_CASE("util: exception_message", "[util]") {
  CHECK(exception_message(std::make_exception_ptr(std::runtime_error("disk full"))) == "disk full");
  // Derived types report their own what(), not a sliced copy's.
  CHECK(exception_message(std::make_exception_ptr(std::out_of_range("index 7"))) == "index 7");
  CHECK(exception_message(std::make_exception_ptr(42)) == "unknown exception");
  CHECK(exception_message(std::make_exception_ptr(std::string("not an exception"))) ==
        "unknown exception");
  CHECK(exception_message(nullptr) == "unknown exception");
}
