// Why: every checkpoint tensor name the xLSTM-7B family uses, in one table (xlstm-reference.md sec. 1).
// Per-block names are formats with one "{}" for the block index. Model code and the wiring check use
// these constants only; no tensor name is spelled anywhere else.
#pragma once

namespace xlstm::names::large {

inline constexpr const char* kEmbedding = "backbone.embeddings.weight";
inline constexpr const char* kEmbeddingNxai = "embedding.weight";  // NX-AI's own (non-HF) checkpoints
inline constexpr const char* kOutNorm = "backbone.out_norm.weight";
inline constexpr const char* kLmHead = "lm_head.weight";
inline constexpr const char* kBlockPrefix = "backbone.blocks.";

// Per block ("{}" = block index). W = weight, B = bias.
inline constexpr const char* kNormMlstmW = "backbone.blocks.{}.norm_mlstm.weight";
inline constexpr const char* kNormMlstmB = "backbone.blocks.{}.norm_mlstm.bias";
inline constexpr const char* kQW = "backbone.blocks.{}.mlstm_layer.q.weight";
inline constexpr const char* kQB = "backbone.blocks.{}.mlstm_layer.q.bias";
inline constexpr const char* kKW = "backbone.blocks.{}.mlstm_layer.k.weight";
inline constexpr const char* kKB = "backbone.blocks.{}.mlstm_layer.k.bias";
inline constexpr const char* kVW = "backbone.blocks.{}.mlstm_layer.v.weight";
inline constexpr const char* kVB = "backbone.blocks.{}.mlstm_layer.v.bias";
inline constexpr const char* kOW = "backbone.blocks.{}.mlstm_layer.ogate_preact.weight";
inline constexpr const char* kOB = "backbone.blocks.{}.mlstm_layer.ogate_preact.bias";
inline constexpr const char* kIW = "backbone.blocks.{}.mlstm_layer.igate_preact.weight";
inline constexpr const char* kIB = "backbone.blocks.{}.mlstm_layer.igate_preact.bias";
inline constexpr const char* kFW = "backbone.blocks.{}.mlstm_layer.fgate_preact.weight";
inline constexpr const char* kFB = "backbone.blocks.{}.mlstm_layer.fgate_preact.bias";
inline constexpr const char* kQkvoW = "backbone.blocks.{}.mlstm_layer.qkv_opreact.weight";  // fused q|k|v|o
inline constexpr const char* kQkvoB = "backbone.blocks.{}.mlstm_layer.qkv_opreact.bias";
inline constexpr const char* kIfW = "backbone.blocks.{}.mlstm_layer.ifgate_preact.weight";  // fused i|f
inline constexpr const char* kIfB = "backbone.blocks.{}.mlstm_layer.ifgate_preact.bias";
inline constexpr const char* kMhNormW = "backbone.blocks.{}.mlstm_layer.multihead_norm.weight";
inline constexpr const char* kMhNormB = "backbone.blocks.{}.mlstm_layer.multihead_norm.bias";
inline constexpr const char* kOutProjW = "backbone.blocks.{}.mlstm_layer.out_proj.weight";
inline constexpr const char* kOutProjB = "backbone.blocks.{}.mlstm_layer.out_proj.bias";
inline constexpr const char* kNormFfnW = "backbone.blocks.{}.norm_ffn.weight";
inline constexpr const char* kNormFfnB = "backbone.blocks.{}.norm_ffn.bias";
inline constexpr const char* kGateW = "backbone.blocks.{}.ffn.proj_up_gate.weight";
inline constexpr const char* kGateB = "backbone.blocks.{}.ffn.proj_up_gate.bias";
inline constexpr const char* kUpW = "backbone.blocks.{}.ffn.proj_up.weight";
inline constexpr const char* kUpB = "backbone.blocks.{}.ffn.proj_up.bias";
inline constexpr const char* kGateUpW = "backbone.blocks.{}.ffn.proj_up_gate_z.weight";  // fused gate|up
inline constexpr const char* kGateUpB = "backbone.blocks.{}.ffn.proj_up_gate_z.bias";
inline constexpr const char* kDownW = "backbone.blocks.{}.ffn.proj_down.weight";
inline constexpr const char* kDownB = "backbone.blocks.{}.ffn.proj_down.bias";

}  // namespace xlstm::names::large
