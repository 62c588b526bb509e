// Why: `xlstm top` reads a server's /metrics. This parses the Prometheus text exposition format (0.0.4):
// `name{label="value",...} value [timestamp]` lines, # comments, escapes in label values, NaN and +-Inf.
// It is tolerant: a line it cannot read is counted and skipped, never an error, so a server that adds
// metrics of a form this parser does not know still shows the rest.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm::server {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct MetricsText {
  std::vector<MetricSample> samples;
  int bad_lines = 0;  // lines skipped because they are not a sample or a comment

  // The sample `name` with exactly these labels (none: the unlabelled one).
  std::optional<double> get(std::string_view name, const std::map<std::string, std::string>& labels = {}) const;
  // The sum over every sample named `name`, whatever its labels; nullopt when there is none.
  std::optional<double> sum(std::string_view name) const;
};

MetricsText parse_metrics_text(std::string_view text);

}  // namespace xlstm::server
