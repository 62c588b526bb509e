// Why: the model-loading flags every model subcommand shares (-m, --device, -t, --dtype, --chunk,
// --random-weights, --no-tune) and the one function that turns them into a backend + model, with the
// thread count from `xlstm tune`'s file when -t is not given (tune.h).
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "backend/backend.h"
#include "model/model.h"

namespace xlstm::cli {

struct ModelOpts {
  std::string model_dir;       // -m
  std::string random_config;   // --random-weights CONFIG.json
  std::string device = "auto"; // --device
  int threads = 0;             // -t (0: all cores); not given: the tune file's count, else all cores
  const CLI::Option* threads_opt = nullptr;  // -t, to tell "not given" from -t 0
  std::string dtype = "auto";  // --dtype
  int chunk = 0;               // --chunk
  uint64_t seed_weights = 1;
  bool no_tune = false;        // --no-tune (or XLSTM_NO_TUNE=1): ignore the tune file
  bool tune_for_prefill = false;  // the command is mostly prefill: take the tune file's prefill thread count
};

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

// allow_random: the command accepts --random-weights.
void add_model_opts(CLI::App& sub, ModelOpts& o, bool allow_random);
// Loads the model; with no -m and no --random-weights, uses the bundled model (XLSTM_MODEL env var,
// then models/xlstm-kjv-tiny next to the working directory, the executable or the source tree).
Loaded load(const ModelOpts& o);
std::string default_model_dir();

}  // namespace xlstm::cli
