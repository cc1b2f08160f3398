#include "coffeeshop/telemetry/otlp_exporter.hpp"
#include "coffeeshop/telemetry/otlp_json.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <deque>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

const trace_resource resource{"coffeeshopd", "0.1.0", "host-42"};

span make_span(std::string name, std::string span_id = "00f067aa0ba902b7") {
  span s;
  s.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  s.span_id = std::move(span_id);
  s.name = std::move(name);
  s.start_ns = 1795515330123456789;
  s.end_ns = 1795515330223456789;
  return s;
}

boost::json::object parse(const std::string& body) { return boost::json::parse(body).as_object(); }

const boost::json::array& spans_of(const boost::json::object& doc) {
  return doc.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
}

/// The value object of attribute `key` in an OTLP attribute array.
boost::json::object attr(const boost::json::value& attrs, const std::string& key) {
  for (const auto& a : attrs.as_array())
    if (a.at("key").as_string() == key)
      return a.at("value").as_object();
  FAIL("no attribute " << key);
  return {};
}

/// The one fake of trace_transport: answers from a script (200 once it runs out) and
/// keeps every call it was given.
class scripted_transport final : public trace_transport {
public:
  explicit scripted_transport(std::deque<http_reply> script) : script_(std::move(script)) {}

  http_reply send(const http_call& call) override {
    calls.push_back(call);
    if (script_.empty())
      return http_reply{transport_error::none, 200, "{}", std::nullopt, ""};
    auto r = script_.front();
    script_.pop_front();
    return r;
  }

  std::vector<http_call> calls;

private:
  std::deque<http_reply> script_;
};

http_reply status(int code, std::optional<std::string> retry_after = std::nullopt) {
  http_reply r;
  r.status = code;
  r.retry_after = std::move(retry_after);
  return r;
}

http_reply unreachable() {
  http_reply r;
  r.error = transport_error::connect_failed;
  return r;
}

struct harness {
  explicit harness(exporter_settings s, std::deque<http_reply> script = {}) {
    auto t = std::make_unique<scripted_transport>(std::move(script));
    transport = t.get();
    exporter = std::make_unique<otlp_exporter>(std::move(s), resource, std::move(t),
                                               [this](uint64_t n) { counted += n; });
  }

  std::size_t spans_sent(std::size_t call) const {
    return spans_of(parse(transport->calls.at(call).body)).size();
  }

  scripted_transport* transport = nullptr;
  uint64_t counted = 0;
  std::unique_ptr<otlp_exporter> exporter;
};

exporter_settings small_batches() {
  exporter_settings s;
  s.url = "http://127.0.0.1:4318/v1/traces";
  s.max_queue_spans = 10;
  s.max_batch_spans = 4;
  s.flush_interval = 1000ms;
  s.initial_backoff = 1000ms;
  s.max_backoff = 5000ms;
  s.max_tries = 3;
  return s;
}

const time_point t0 = time_point{} + 1000h;

} // namespace

// -- the JSON mapping ---------------------------------------------------------------

TEST_CASE("otlp json: resource attributes and one scope", "[otlp]") {
  auto doc = parse(encode_otlp_traces(resource, {make_span("GET /healthz")}));
  const auto& rs = doc.at("resourceSpans").as_array();
  REQUIRE(rs.size() == 1);
  const auto& attrs = rs[0].at("resource").at("attributes");
  CHECK(attr(attrs, "service.name").at("stringValue") == "coffeeshopd");
  CHECK(attr(attrs, "service.version").at("stringValue") == "0.1.0");
  CHECK(attr(attrs, "service.instance.id").at("stringValue") == "host-42");
  CHECK(rs[0].at("scopeSpans").at(0).at("scope").at("name") == "coffeeshopd");
}

TEST_CASE("otlp json: ids as hex, times as decimal strings, kind and status as numbers", "[otlp]") {
  auto s = make_span("POST", "b7ad6b7169203331");
  s.parent_span_id = "00f067aa0ba902b7";
  s.kind = span_kind::client;
  s.status = span_status::error;
  s.status_message = "HTTP 503";
  auto root = make_span("root");
  root.kind = span_kind::server;
  auto doc = parse(encode_otlp_traces(resource, {s, root}));
  const auto& spans = spans_of(doc);
  REQUIRE(spans.size() == 2);
  const auto& j = spans[0].as_object();
  CHECK(j.at("traceId") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(j.at("spanId") == "b7ad6b7169203331");
  CHECK(j.at("parentSpanId") == "00f067aa0ba902b7");
  CHECK(j.at("name") == "POST");
  CHECK(j.at("kind") == 3);
  CHECK(j.at("startTimeUnixNano") == "1795515330123456789");
  CHECK(j.at("endTimeUnixNano") == "1795515330223456789");
  CHECK(j.at("status").at("code") == 2);
  CHECK(j.at("status").at("message") == "HTTP 503");
  // A root span has no parentSpanId at all (not an empty one); unset status is {}.
  CHECK_FALSE(spans[1].as_object().contains("parentSpanId"));
  CHECK(spans[1].at("kind") == 2);
  CHECK(spans[1].at("status").as_object().empty());
}

TEST_CASE("otlp json: attribute values are typed AnyValue objects", "[otlp]") {
  auto s = make_span("x");
  s.attributes = {{"url.full", "http://a/b"},
                  {"http.response.status_code", 503},
                  {"big", int64_t{9007199254740993}},
                  {"ratio", 0.25},
                  {"flag", true}};
  s.events.push_back({"retry_scheduled", 1795515330200000000, {{"coffeeshop.attempt", 2}}});
  auto doc = parse(encode_otlp_traces(resource, {s}));
  const auto& j = spans_of(doc)[0];
  CHECK(attr(j.at("attributes"), "url.full").at("stringValue") == "http://a/b");
  // int64 is a string in proto3 JSON, so 2^53+1 survives a JavaScript collector.
  CHECK(attr(j.at("attributes"), "http.response.status_code").at("intValue") == "503");
  CHECK(attr(j.at("attributes"), "big").at("intValue") == "9007199254740993");
  CHECK(attr(j.at("attributes"), "ratio").at("doubleValue") == 0.25);
  CHECK(attr(j.at("attributes"), "flag").at("boolValue") == true);
  const auto& ev = j.at("events").at(0);
  CHECK(ev.at("name") == "retry_scheduled");
  CHECK(ev.at("timeUnixNano") == "1795515330200000000");
  CHECK(attr(ev.at("attributes"), "coffeeshop.attempt").at("intValue") == "2");
}

// -- batching -----------------------------------------------------------------------

TEST_CASE("otlp exporter: nothing is sent before a batch is full or the interval passed",
          "[otlp]") {
  harness h(small_batches());
  CHECK(h.exporter->step(t0) == t0 + 1000ms);
  h.exporter->submit(make_span("a"));
  h.exporter->submit(make_span("b"));
  CHECK(h.exporter->step(t0 + 999ms) == t0 + 1000ms);
  CHECK(h.transport->calls.empty());
  // The interval passed: what waits goes, in one POST to the traces URL.
  h.exporter->step(t0 + 1000ms);
  REQUIRE(h.transport->calls.size() == 1);
  CHECK(h.transport->calls[0].url == "http://127.0.0.1:4318/v1/traces");
  CHECK(h.transport->calls[0].timeout == 5000ms);
  CHECK(h.spans_sent(0) == 2);
  CHECK(h.exporter->queued() == 0);
}

TEST_CASE("otlp exporter: a full batch goes at once, at most max_batch_spans per POST", "[otlp]") {
  harness h(small_batches());
  h.exporter->step(t0);
  for (int i = 0; i < 6; ++i)
    h.exporter->submit(make_span("s" + std::to_string(i)));
  // A full batch is due before the interval; the rest waits for it.
  CHECK(h.exporter->step(t0 + 10ms) == t0 + 1010ms);
  REQUIRE(h.transport->calls.size() == 1);
  CHECK(h.spans_sent(0) == 4);
  CHECK(h.exporter->queued() == 2);
  h.exporter->step(t0 + 1010ms);
  REQUIRE(h.transport->calls.size() == 2);
  CHECK(h.spans_sent(1) == 2);
}

TEST_CASE("otlp exporter: a full queue drops and counts spans", "[otlp]") {
  harness h(small_batches());
  for (int i = 0; i < 13; ++i)
    h.exporter->submit(make_span("s"));
  CHECK(h.exporter->queued() == 10);
  CHECK(h.exporter->dropped() == 3);
  // The counter hears of them on the export thread's next step.
  CHECK(h.counted == 0);
  h.exporter->step(t0);
  CHECK(h.counted == 3);
}

// -- a collector that refuses -------------------------------------------------------

TEST_CASE("otlp exporter: 429 and 503 back off exponentially, then the batch goes", "[otlp]") {
  harness h(small_batches(), {status(429), status(503)});
  h.exporter->submit(make_span("a"));
  h.exporter->step(t0);
  CHECK(h.exporter->step(t0 + 1000ms) == t0 + 2000ms); // first try, 429: 1 s
  CHECK(h.exporter->step(t0 + 1999ms) == t0 + 2000ms); // nothing sent meanwhile
  CHECK(h.transport->calls.size() == 1);
  CHECK(h.exporter->step(t0 + 2000ms) == t0 + 4000ms); // second try, 503: 2 s
  h.exporter->step(t0 + 4000ms);                       // third try, 200
  REQUIRE(h.transport->calls.size() == 3);
  CHECK(h.transport->calls[2].body == h.transport->calls[0].body);
  CHECK(h.exporter->dropped() == 0);
}

TEST_CASE("otlp exporter: Retry-After lengthens a backoff up to max_backoff", "[otlp]") {
  harness h(small_batches(), {status(503, "3"), status(503, "60")});
  h.exporter->submit(make_span("a"));
  h.exporter->step(t0);
  CHECK(h.exporter->step(t0 + 1000ms) == t0 + 4000ms);
  CHECK(h.exporter->step(t0 + 4000ms) == t0 + 9000ms); // 60 s capped at 5 s
}

TEST_CASE("otlp exporter: a batch still refused after max_tries is dropped and counted", "[otlp]") {
  harness h(small_batches(), {status(503), status(503), status(503)});
  h.exporter->submit(make_span("a"));
  h.exporter->submit(make_span("b"));
  h.exporter->step(t0);
  h.exporter->step(t0 + 1000ms);
  h.exporter->step(t0 + 2000ms);
  h.exporter->step(t0 + 4000ms);
  CHECK(h.transport->calls.size() == 3);
  CHECK(h.exporter->dropped() == 2);
  CHECK(h.counted == 2);
}

TEST_CASE("otlp exporter: an unreachable collector or a 400 drops the batch at once", "[otlp]") {
  harness h(small_batches(), {unreachable(), status(400)});
  h.exporter->submit(make_span("a"));
  h.exporter->step(t0);
  h.exporter->step(t0 + 1000ms);
  CHECK(h.exporter->dropped() == 1);
  h.exporter->submit(make_span("b"));
  h.exporter->step(t0 + 2000ms);
  CHECK(h.transport->calls.size() == 2);
  CHECK(h.exporter->dropped() == 2);
}

TEST_CASE("otlp exporter: while a batch backs off, new spans queue (and overflow) behind it",
          "[otlp]") {
  harness h(small_batches(), {status(429)});
  h.exporter->submit(make_span("a"));
  h.exporter->step(t0);
  h.exporter->step(t0 + 1000ms);
  for (int i = 0; i < 12; ++i)
    h.exporter->submit(make_span("b"));
  CHECK(h.exporter->step(t0 + 1500ms) == t0 + 2000ms);
  CHECK(h.transport->calls.size() == 1);
  CHECK(h.exporter->dropped() == 2);
  h.exporter->step(t0 + 2000ms); // the retried batch, then a full one
  REQUIRE(h.transport->calls.size() == 3);
  CHECK(h.spans_sent(1) == 1);
  CHECK(h.spans_sent(2) == 4);
}

// -- the thread ---------------------------------------------------------------------

TEST_CASE("otlp exporter: stop sends what waits once and a failure drops the rest", "[otlp]") {
  SECTION("collector up") {
    harness h(small_batches());
    for (int i = 0; i < 6; ++i)
      h.exporter->submit(make_span("s"));
    h.exporter->stop();
    REQUIRE(h.transport->calls.size() == 2);
    CHECK(h.spans_sent(0) + h.spans_sent(1) == 6);
    CHECK(h.exporter->dropped() == 0);
    h.exporter->submit(make_span("late"));
    CHECK(h.exporter->dropped() == 1);
  }
  SECTION("collector throttling: no backoff at shutdown") {
    harness h(small_batches(), {status(503)});
    for (int i = 0; i < 6; ++i)
      h.exporter->submit(make_span("s"));
    h.exporter->stop();
    CHECK(h.transport->calls.size() == 1);
    CHECK(h.exporter->dropped() == 6);
  }
}

TEST_CASE("otlp exporter: the export thread sends a full batch without waiting the interval",
          "[otlp]") {
  auto s = small_batches();
  s.flush_interval = 3600000ms; // only a full batch can be the reason to send
  harness h(s);
  h.exporter->start();
  for (int i = 0; i < 4; ++i)
    h.exporter->submit(make_span("s"));
  // stop() joins the thread before its own flush: if the thread had not sent the
  // batch, the flush would, so the calls tell which one did.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (h.exporter->queued() != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(h.exporter->queued() == 0);
  h.exporter->stop();
  REQUIRE(h.transport->calls.size() == 1);
  CHECK(h.spans_sent(0) == 4);
}
