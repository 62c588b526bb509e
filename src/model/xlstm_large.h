// Why: the xLSTM-7B family ("xLSTM Large", HF model_type "xlstm"), written once against backend.h.
#pragma once
#include <memory>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "model/wiring.h"

namespace xlstm {

// Takes ownership of the tensor store (weights may stay zero-copy views of its mapped files).
std::unique_ptr<Model> make_xlstm_large(const XlstmLargeConfig& cfg, std::unique_ptr<TensorStore> store,
                                        const LargeWiring& wiring, Backend& be, const LoadOptions& opt,
                                        const std::string& path);

}  // namespace xlstm
