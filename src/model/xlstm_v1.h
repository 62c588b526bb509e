// Why: the original xLSTM family (NX-AI `xlstm` package, xLSTMLMModel: mLSTM v1 and sLSTM blocks),
// written once against backend.h.
#pragma once
#include <memory>

#include "io/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "model/wiring.h"

namespace xlstm {

// Takes ownership of the tensor store. The backend must have the family's ops (Backend::has_v1_ops).
std::unique_ptr<Model> make_xlstm_v1(const XlstmV1Config& cfg, std::unique_ptr<TensorStore> store,
                                     const V1Wiring& wiring, Backend& be, const LoadOptions& opt,
                                     const std::string& path);

}  // namespace xlstm
