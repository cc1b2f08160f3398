// The operator page (GET /, CONTRACT §9) in a real browser: Debian's headless Chromium
// loads it from a running daemon whose payment breaker the simulator has opened, and the
// rendered DOM must show it open. A screenshot is kept as a test artifact
// (build/artifacts/operator-page.png; docs/operator-page.png is a copy of one).

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

using namespace coffeeshop::e2e;

namespace {

constexpr const char* chromium = "/usr/bin/chromium";

/// Runs headless Chromium on `url` with a fresh profile, saves a screenshot to `png` and
/// returns the rendered DOM (one start: Chromium takes seconds to start on a busy machine).
/// The flags keep it off the network it would otherwise try to reach.
/// --virtual-time-budget lets the page's first refresh (its fetches) finish before the
/// DOM is taken; it is Chromium's virtual clock, not a sleep of the test.
std::string run_chromium(const std::string& url, const std::string& png) {
  REQUIRE(std::filesystem::exists(chromium)); // .ci/install-deps --test installs it
  temp_dir profile;
  process p(chromium,
            {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile.path(), "--window-size=1280,900",
             "--virtual-time-budget=2500", "--screenshot=" + png, "--dump-dom", url});
  auto status = p.wait_exit(60s);
  INFO(p.stderr_text());
  REQUIRE(status == std::optional<int>{0});
  return p.stdout_text();
}

/// The opening tag of the element with id `id` in `dom`, "" when absent.
std::string tag_of(const std::string& dom, const std::string& id) {
  auto at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos)
    return {};
  auto start = dom.rfind('<', at);
  return dom.substr(start, dom.find('>', at) - start + 1);
}

std::string text_of(const std::string& dom, const std::string& id) {
  auto tag = tag_of(dom, id);
  if (tag.empty())
    return {};
  auto at = dom.find(tag) + tag.size();
  return dom.substr(at, dom.find('<', at) - at);
}

} // namespace

TEST_CASE("operator page: headless Chromium shows the breaker the simulator opened",
          "[e2e][page]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"services.payment.retry.max_retries=0",
                            "services.payment.circuit_breaker.failure_threshold=2",
                            "services.payment.circuit_breaker.break_duration_ms=600000"});
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 500}});
  for (int i = 0; i < 2; ++i)
    d.create_order(order_body());
  REQUIRE(
    eventually([&] { return integration(d, "payment").at("circuit").at("state") == "open"; }));

  auto dir = std::filesystem::path{COFFEESHOP_ARTIFACT_DIR};
  std::filesystem::create_directories(dir);
  auto shot = (dir / "operator-page.png").string();
  std::filesystem::remove(shot);
  auto dom = run_chromium(d.base_url() + "/", shot);
  INFO(dom.substr(0, 4000));
  // The script ran and filled the page from the APIs.
  CHECK(text_of(dom, "updated").rfind("updated ", 0) == 0);
  CHECK(tag_of(dom, "svc-payment").find("data-state=\"open\"") != std::string::npos);
  CHECK(tag_of(dom, "payment-state").find("badge open") != std::string::npos);
  CHECK(text_of(dom, "payment-state") == "open");
  CHECK(std::regex_search(text_of(dom, "payment-break"),
                          std::regex{R"(^\d+\.\d s left in the break$)"}));
  CHECK(tag_of(dom, "svc-notification").find("data-state=\"closed\"") != std::string::npos);
  // The events list carries what opened it.
  CHECK(dom.find("circuit_opened") != std::string::npos);

  REQUIRE(std::filesystem::exists(shot));
  std::ifstream png(shot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
  CHECK(std::filesystem::file_size(shot) > 10000); // a rendered page, not a blank stub
}
