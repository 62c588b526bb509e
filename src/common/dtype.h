// Why: storage dtypes of checkpoints (F32, BF16, F16) and exact scalar conversions to and from float32.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace xlstm {

enum class DType : uint8_t { F32, BF16, F16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
const char* dtype_name(DType t);            // "F32" | "BF16" | "F16" (safetensors spelling)
bool dtype_from_name(const std::string& s, DType* out);  // accepts safetensors names and "f32"/"bf16"/"f16"

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN kept quiet (same as torch's conversion).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// dst[i] = float(src[i]) for n elements stored as `t`.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
// dst (as `t`) = src, rounding to nearest even.
void convert_from_f32(DType t, const float* src, void* dst, size_t n);

}  // namespace xlstm
