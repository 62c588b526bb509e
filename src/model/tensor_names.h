// Why: every checkpoint tensor name of the xLSTM-7B family (xlstm-reference.md sec. 1) and of the original
// xLSTM family (sec. 2), in one table.
// Per-block names are formats with one "{}" for the block index. Model code and the wiring check use
// these constants only; no tensor name is spelled anywhere else.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace xlstm::names {
// A per-block name of the table with the block index filled in: blk(large::kNorm, 3).
inline std::string blk(const char* fmt_str, int64_t i) { return fmt::format(fmt::runtime(fmt_str), i); }
}  // namespace xlstm::names

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

// The original xLSTM family (NX-AI `xlstm` package, xLSTMLMModel; xlstm-reference.md section 2). Per-block
// names are formats with one "{}" for the block index.
namespace xlstm::names::v1 {

inline constexpr const char* kEmbedding = "token_embedding.weight";
inline constexpr const char* kLmHead = "lm_head.weight";
inline constexpr const char* kPostNorm = "xlstm_block_stack.post_blocks_norm.weight";
inline constexpr const char* kBlockPrefix = "xlstm_block_stack.blocks.";

// Every block.
inline constexpr const char* kNormW = "xlstm_block_stack.blocks.{}.xlstm_norm.weight";
inline constexpr const char* kConvW = "xlstm_block_stack.blocks.{}.xlstm.conv1d.conv.weight";  // [C, 1, K]
inline constexpr const char* kConvB = "xlstm_block_stack.blocks.{}.xlstm.conv1d.conv.bias";    // [C]
// mLSTM blocks.
inline constexpr const char* kProjUpW = "xlstm_block_stack.blocks.{}.xlstm.proj_up.weight";
inline constexpr const char* kProjUpB = "xlstm_block_stack.blocks.{}.xlstm.proj_up.bias";
inline constexpr const char* kQW = "xlstm_block_stack.blocks.{}.xlstm.q_proj.weight";  // headwise [NHp, bs, bs]
inline constexpr const char* kQB = "xlstm_block_stack.blocks.{}.xlstm.q_proj.bias";
inline constexpr const char* kKW = "xlstm_block_stack.blocks.{}.xlstm.k_proj.weight";
inline constexpr const char* kKB = "xlstm_block_stack.blocks.{}.xlstm.k_proj.bias";
inline constexpr const char* kVW = "xlstm_block_stack.blocks.{}.xlstm.v_proj.weight";
inline constexpr const char* kVB = "xlstm_block_stack.blocks.{}.xlstm.v_proj.bias";
inline constexpr const char* kSkip = "xlstm_block_stack.blocks.{}.xlstm.learnable_skip";
inline constexpr const char* kIgateW = "xlstm_block_stack.blocks.{}.xlstm.mlstm_cell.igate.weight";  // [NH, 3 inner]
inline constexpr const char* kIgateB = "xlstm_block_stack.blocks.{}.xlstm.mlstm_cell.igate.bias";
inline constexpr const char* kFgateW = "xlstm_block_stack.blocks.{}.xlstm.mlstm_cell.fgate.weight";
inline constexpr const char* kFgateB = "xlstm_block_stack.blocks.{}.xlstm.mlstm_cell.fgate.bias";
inline constexpr const char* kOutNormW = "xlstm_block_stack.blocks.{}.xlstm.mlstm_cell.outnorm.weight";
inline constexpr const char* kProjDownW = "xlstm_block_stack.blocks.{}.xlstm.proj_down.weight";
inline constexpr const char* kProjDownB = "xlstm_block_stack.blocks.{}.xlstm.proj_down.bias";
// sLSTM blocks (headwise gates [NH, DH, DH], no bias; the cell's recurrent kernel and bias in the layout
// of the config's slstm.backend).
inline constexpr const char* kSIgateW = "xlstm_block_stack.blocks.{}.xlstm.igate.weight";
inline constexpr const char* kSFgateW = "xlstm_block_stack.blocks.{}.xlstm.fgate.weight";
inline constexpr const char* kSZgateW = "xlstm_block_stack.blocks.{}.xlstm.zgate.weight";
inline constexpr const char* kSOgateW = "xlstm_block_stack.blocks.{}.xlstm.ogate.weight";
inline constexpr const char* kSRecurrent = "xlstm_block_stack.blocks.{}.xlstm.slstm_cell._recurrent_kernel_";
inline constexpr const char* kSBias = "xlstm_block_stack.blocks.{}.xlstm.slstm_cell._bias_";
inline constexpr const char* kSGroupNormW = "xlstm_block_stack.blocks.{}.xlstm.group_norm.weight";
inline constexpr const char* kFfnNormW = "xlstm_block_stack.blocks.{}.ffn_norm.weight";
inline constexpr const char* kFfnUpW = "xlstm_block_stack.blocks.{}.ffn.proj_up.weight";  // rows gate | up
inline constexpr const char* kFfnUpB = "xlstm_block_stack.blocks.{}.ffn.proj_up.bias";
inline constexpr const char* kFfnDownW = "xlstm_block_stack.blocks.{}.ffn.proj_down.weight";
inline constexpr const char* kFfnDownB = "xlstm_block_stack.blocks.{}.ffn.proj_down.bias";

}  // namespace xlstm::names::v1
