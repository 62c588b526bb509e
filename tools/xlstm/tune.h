// Why: `xlstm tune` measures this machine for a model and records the result in a tuning file; later runs
// of any model command read it back (model_opts.cpp) when no -t is given. This is the file's one reader and
// writer: its path, the device and model keys entries are matched by, and the tolerant read (a malformed
// file is a warning, never an error). docs/TUNE.md documents the format.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "model/model.h"

namespace xlstm::cli {

// $XDG_CACHE_HOME/xlstm/tune.json, else $HOME/.cache/xlstm/tune.json ("" when neither is set).
std::string default_tune_path();
// "cpu:<model name from /proc/cpuinfo>:<hardware threads>t": entries measured on another machine never match.
std::string cpu_device_key();
// The model's shape and weight dtype as run (architecture, dimensions, vocabulary), e.g.
// "xlstm:L6:NH4:DK32:DV64:V4096:D256:F704:BF16": models of one shape share an entry.
std::string model_shape_key(const ModelInfo& info);

// The entry of `path` for device + model; nullopt when the file does not exist or has no such entry. A file
// that cannot be read or is malformed (or an entry with bad fields) sets *warning and gives nullopt.
std::optional<nlohmann::json> find_tune_entry(const std::string& path, const std::string& device,
                                              const std::string& model, std::string* warning);
// Writes `entry` (with "device" and "model" fields) into `path`, replacing the entry of the same keys and
// keeping the others; creates the directory. A malformed existing file is replaced (*warning says so).
void write_tune_entry(const std::string& path, const nlohmann::json& entry, std::string* warning);

}  // namespace xlstm::cli
