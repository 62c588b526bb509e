// Why: see prometheus_text.h.
#include "server/prometheus_text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace xlstm::server {
namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
void skip_blanks(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

bool parse_value(std::string_view tok, double* v) {
  if (tok == "NaN") return *v = std::numeric_limits<double>::quiet_NaN(), true;
  if (tok == "+Inf" || tok == "Inf") return *v = std::numeric_limits<double>::infinity(), true;
  if (tok == "-Inf") return *v = -std::numeric_limits<double>::infinity(), true;
  if (tok.empty()) return false;
  const std::string s(tok);
  char* end = nullptr;
  errno = 0;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno != ERANGE && std::isfinite(*v);
}

// {a="x",b="y"} starting at s[i] == '{'; advances i past '}'.
bool parse_labels(std::string_view s, size_t& i, std::map<std::string, std::string>& out) {
  ++i;
  for (;;) {
    skip_blanks(s, i);
    if (i < s.size() && s[i] == '}') return ++i, true;
    const size_t a = i;
    if (i >= s.size() || !name_start(s[i])) return false;
    while (i < s.size() && name_char(s[i])) ++i;
    std::string key(s.substr(a, i - a));
    skip_blanks(s, i);
    if (i >= s.size() || s[i] != '=') return false;
    ++i;
    skip_blanks(s, i);
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    std::string val;
    for (;; ++i) {
      if (i >= s.size()) return false;
      if (s[i] == '"') break;
      if (s[i] == '\\') {
        if (++i >= s.size()) return false;
        val += s[i] == 'n' ? '\n' : s[i];  // \\ \" \n
      } else {
        val += s[i];
      }
    }
    ++i;
    out[key] = val;
    skip_blanks(s, i);
    if (i < s.size() && s[i] == ',') ++i;
    else if (i >= s.size() || s[i] != '}') return false;
  }
}

bool parse_sample(std::string_view s, MetricSample& m) {
  size_t i = 0;
  skip_blanks(s, i);
  const size_t a = i;
  if (i >= s.size() || !name_start(s[i])) return false;
  while (i < s.size() && name_char(s[i])) ++i;
  m.name = std::string(s.substr(a, i - a));
  skip_blanks(s, i);
  if (i < s.size() && s[i] == '{' && !parse_labels(s, i, m.labels)) return false;
  skip_blanks(s, i);
  const size_t v = i;
  while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
  if (!parse_value(s.substr(v, i - v), &m.value)) return false;
  skip_blanks(s, i);
  if (i == s.size()) return true;
  if (s[i] == '-') ++i;  // optional timestamp (ms): an integer
  const size_t d = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  const bool digits = i > d;
  skip_blanks(s, i);
  return digits && i == s.size();
}

}  // namespace

MetricsText parse_metrics_text(std::string_view text) {
  MetricsText out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t f = line.find_first_not_of(" \t");
    if (f == std::string_view::npos || line[f] == '#') continue;
    MetricSample m;
    if (parse_sample(line, m))
      out.samples.push_back(std::move(m));
    else
      out.bad_lines += 1;
  }
  return out;
}

std::optional<double> MetricsText::get(std::string_view name, const std::map<std::string, std::string>& labels) const {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels) return s.value;
  return std::nullopt;
}

std::optional<double> MetricsText::sum(std::string_view name) const {
  std::optional<double> total;
  for (const auto& s : samples)
    if (s.name == name) total = total.value_or(0) + s.value;
  return total;
}

}  // namespace xlstm::server
