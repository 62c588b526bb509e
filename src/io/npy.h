// Why: NumPy .npy files are how token ids come in and logits go out of `xlstm logits`, and how the
// reference fixtures are stored. Supports little-endian int32/int64/float32/float64, C order, 1-D or 2-D.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xlstm {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> values;  // any numeric dtype widened (exact for int32/int64 ids < 2^53 and float32)
  std::string dtype;           // "<i4", "<i8", "<f4", "<f8"
};

NpyArray read_npy(const std::string& path);  // throws xlstm::Error naming the path and problem
std::vector<int32_t> read_npy_ids(const std::string& path);  // 1-D integer array -> ids
std::vector<float> read_npy_f32(const std::string& path, std::vector<int64_t>* shape);
void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);
void write_npy_i64(const std::string& path, const std::vector<int64_t>& data);

}  // namespace xlstm
