// Why: see tune.h.
#include "tune.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/check.h"
#include "io/mapped_file.h"

namespace xlstm::cli {

using json = nlohmann::json;

std::string default_tune_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/xlstm/tune.json";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/xlstm/tune.json";
  return "";
}

std::string cpu_device_key() {
  std::string name = "unknown";
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      name = line.substr(line.find(':') + 1);
      const size_t a = name.find_first_not_of(" \t");
      name = a == std::string::npos ? "unknown" : name.substr(a);
      break;
    }
  return fmt::format("cpu:{}:{}t", name, std::thread::hardware_concurrency());
}

std::string model_shape_key(const ModelInfo& I) {
  return fmt::format("{}:V{}:D{}:F{}:{}", I.fingerprint, I.vocab_size, I.hidden, I.ffn_dim, dtype_name(I.weight_dtype));
}

namespace {

// The file's entries array; throws xlstm::Error naming what is wrong.
json read_entries(const std::string& path) {
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    XLSTM_FAIL("not JSON ({})", e.what());
  }
  XLSTM_CHECK(j.is_object() && j.contains("version") && j["version"] == 1, "no \"version\": 1");
  XLSTM_CHECK(j.contains("entries") && j["entries"].is_array(), "no \"entries\" array");
  for (const auto& e : j["entries"])
    XLSTM_CHECK(e.is_object() && e.contains("device") && e["device"].is_string() && e.contains("model") &&
                    e["model"].is_string(),
                "an entry lacks its \"device\" or \"model\" key");
  return j["entries"];
}

}  // namespace

std::optional<json> find_tune_entry(const std::string& path, const std::string& device, const std::string& model,
                                    std::string* warning) {
  if (path.empty() || !file_exists(path)) return std::nullopt;
  try {
    for (const auto& e : read_entries(path)) {
      if (e["device"] != device || e["model"] != model) continue;
      XLSTM_CHECK(e.contains("threads") && e["threads"].is_number_integer() && e["threads"].get<int64_t>() >= 1 &&
                      e["threads"].get<int64_t>() <= 4096,
                  "the entry for this device and model has no valid \"threads\" (an integer >= 1)");
      return e;
    }
  } catch (const Error& err) {
    *warning = fmt::format("ignoring tune file '{}': {}", path, err.what());
  }
  return std::nullopt;
}

void write_tune_entry(const std::string& path, const json& entry, std::string* warning) {
  json entries = json::array();
  if (file_exists(path)) {
    try {
      entries = read_entries(path);
    } catch (const Error& err) {
      *warning = fmt::format("replacing malformed tune file '{}': {}", path, err.what());
    }
  }
  json kept = json::array();
  for (const auto& e : entries)
    if (e["device"] != entry["device"] || e["model"] != entry["model"]) kept.push_back(e);
  kept.push_back(entry);
  const std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  // Written next to the target and renamed over it, so a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    XLSTM_CHECK(f.good(), "cannot write tune file '{}'", tmp);
    f << json{{"version", 1}, {"entries", kept}}.dump(2) << "\n";
    XLSTM_CHECK(f.good(), "error writing tune file '{}'", tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  XLSTM_CHECK(!ec, "cannot write tune file '{}': {}", path, ec.message());
}

}  // namespace xlstm::cli
