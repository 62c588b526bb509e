// Why: `xlstm top`: a live view of a running `xlstm serve`. It polls /metrics (parsed by
// server/prometheus_text.h), /health and /v1/models every --interval seconds and shows requests running and
// queued, slots, prompt and generated tokens/s (counter deltas between two polls), totals and uptime.
// --once prints one snapshot (two polls --interval apart, for the rates) and exits; on a terminal the view
// is redrawn in place with ANSI codes, elsewhere each snapshot is printed after the previous one.
#include <httplib.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

#include "command.h"
#include "common/check.h"
#include "server/prometheus_text.h"

namespace xlstm::cli {
namespace {

struct Snapshot {
  server::MetricsText m;
  double t = 0;            // steady clock, seconds
  std::string health;      // "ok", "shutting down", or what went wrong
  std::string model = "?";
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// httplib's error names are terse ("Connection"): say what they mean.
std::string why(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "connection failed (is `xlstm serve` running there?)";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "no answer (read failed or timed out)";
    case httplib::Error::Write: return "the request could not be sent";
    default: return httplib::to_string(e);
  }
}

// One poll of the server; throws xlstm::Error when /metrics cannot be had.
Snapshot poll(httplib::Client& cli, const std::string& url) {
  Snapshot s;
  auto met = cli.Get("/metrics");
  if (!met) XLSTM_FAIL("cannot reach {}: {}", url, why(met.error()));
  XLSTM_CHECK(met->status == 200, "{}/metrics answered HTTP {}", url, met->status);
  s.t = now();
  s.m = server::parse_metrics_text(met->body);
  auto h = cli.Get("/health");
  if (!h)
    s.health = why(h.error());
  else {
    auto j = nlohmann::json::parse(h->body, nullptr, false);
    s.health = j.is_object() && j.contains("status") && j["status"].is_string() ? j["status"].get<std::string>()
                                                                                 : fmt::format("HTTP {}", h->status);
  }
  if (auto mo = cli.Get("/v1/models"); mo && mo->status == 200) {
    auto j = nlohmann::json::parse(mo->body, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
        j["data"][0].contains("id") && j["data"][0]["id"].is_string())
      s.model = j["data"][0]["id"].get<std::string>();
  }
  return s;
}

std::string num(std::optional<double> v) { return v ? fmt::format("{:.0f}", *v) : "-"; }

// Tokens/s of a counter between two polls ("-" when either lacks it or it went backwards: a restart).
std::string rate(const Snapshot* prev, const Snapshot& cur, const char* name) {
  if (!prev) return "-";
  auto a = prev->m.sum(name), b = cur.m.sum(name);
  const double dt = cur.t - prev->t;
  if (!a || !b || *b < *a || dt <= 0) return "-";
  return fmt::format("{:.1f}", (*b - *a) / dt);
}

// The largest value of `name` over its label sets (the sampling paths).
std::optional<double> max_of(const server::MetricsText& m, const char* name) {
  std::optional<double> mx;
  for (const auto& s : m.samples)
    if (s.name == name) mx = std::max(mx.value_or(s.value), s.value);
  return mx;
}

std::string uptime(std::optional<double> s) {
  if (!s) return "-";
  const long long t = (long long)std::floor(*s);
  return fmt::format("{}h{:02}m{:02}s", t / 3600, (t / 60) % 60, t % 60);
}

std::string render(const std::string& url, const Snapshot* prev, const Snapshot& cur) {
  const auto& m = cur.m;
  std::string o;
  o += fmt::format("xlstm top  {}  model {}  health {}  uptime {}\n", url, cur.model, cur.health,
                   uptime(m.get("xlstm_uptime_seconds")));
  o += fmt::format("requests   running {}  queued {}  finished {}  failed {}  cancelled {}  total {}\n",
                   num(m.get("xlstm_slots_busy")), num(m.get("xlstm_requests_queued")),
                   num(m.get("xlstm_requests_finished_total")), num(m.get("xlstm_requests_failed_total")),
                   num(m.get("xlstm_requests_cancelled_total")), num(m.get("xlstm_requests_total")));
  o += fmt::format("slots      busy {} / {}\n", num(m.get("xlstm_slots_busy")), num(m.get("xlstm_slots_total")));
  o += fmt::format("tokens/s   prompt {}  generated {}{}\n", rate(prev, cur, "xlstm_prefill_tokens_total"),
                   rate(prev, cur, "xlstm_generated_tokens_total"),
                   prev ? fmt::format("  (over {:.1f} s)", cur.t - prev->t) : "");
  o += fmt::format("tokens     prompt {}  generated {}\n", num(m.sum("xlstm_prefill_tokens_total")),
                   num(m.sum("xlstm_generated_tokens_total")));
  o += fmt::format("decode     steps {}  batched {}  largest batch {}\n", num(m.sum("xlstm_decode_steps_total")),
                   num(m.sum("xlstm_decode_steps_batched_total")), num(max_of(m, "xlstm_decode_batch_max")));
  if (m.bad_lines > 0) o += fmt::format("({} /metrics lines not understood)\n", m.bad_lines);
  return o;
}

XLSTM_COMMAND("top", "live view of a running `xlstm serve` (requests, slots, tokens/s)", [](CLI::App& sub) {
  struct Opts {
    std::string url = "http://127.0.0.1:8080";
    double interval = 1.0;
    bool once = false;
  };
  auto o = std::make_shared<Opts>();
  sub.add_option("--url", o->url, "the server's address")->capture_default_str();
  sub.add_option("--interval", o->interval, "seconds between polls")->capture_default_str();
  sub.add_flag("--once", o->once, "print one snapshot (two polls --interval apart, for the rates) and exit");
  return std::function<int()>([o] {
    XLSTM_CHECK(o->interval > 0 && o->interval <= 3600, "--interval must be in (0, 3600] seconds, got {}",
                o->interval);
    while (!o->url.empty() && o->url.back() == '/') o->url.pop_back();
    XLSTM_CHECK(o->url.rfind("http://", 0) == 0 || o->url.rfind("https://", 0) == 0,
                "--url must start with http:// or https://, got '{}'", o->url);
    httplib::Client cli(o->url);
    XLSTM_CHECK(cli.is_valid(), "--url '{}' is not a usable address", o->url);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(5, 0);
    const auto pause = std::chrono::duration<double>(o->interval);
    std::optional<Snapshot> prev = poll(cli, o->url);  // the first failure ends the program
    if (o->once) {
      std::this_thread::sleep_for(pause);
      const Snapshot cur = poll(cli, o->url);
      std::fputs(render(o->url, &*prev, cur).c_str(), stdout);
      return 0;
    }
    const bool tty = ::isatty(1) != 0;
    std::string text = render(o->url, nullptr, *prev);
    for (;;) {
      if (tty) std::fputs("\x1b[H\x1b[2J", stdout);  // home, clear screen
      std::fputs(text.c_str(), stdout);
      if (!tty) std::fputs("\n", stdout);
      std::fflush(stdout);
      std::this_thread::sleep_for(pause);
      try {
        Snapshot cur = poll(cli, o->url);
        text = render(o->url, prev ? &*prev : nullptr, cur);
        prev = std::move(cur);
      } catch (const Error& e) {  // the server went away: say so and keep polling
        text = std::string("error: ") + e.what() + "\n";
        prev.reset();
      }
    }
  });
});

}  // namespace
}  // namespace xlstm::cli
