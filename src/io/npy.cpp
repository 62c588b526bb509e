// Why: see npy.h. Format: "\x93NUMPY", version (1.0/2.0/3.0), header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (T, V), }, padding, then raw data.
#include "io/npy.h"

#include <cstring>
#include <fstream>
#include <regex>

#include "common/check.h"
#include "io/mapped_file.h"

namespace xlstm {
namespace {

std::string npy_header(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i) sh += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  sh += ")";
  std::string d = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  size_t total = 10 + d.size() + 1;
  d.append((64 - total % 64) % 64, ' ');
  d += '\n';
  std::string out = "\x93NUMPY";
  out += char(1), out += char(0);
  out += char(d.size() & 0xff), out += char((d.size() >> 8) & 0xff);
  return out + d;
}

void write_raw(const std::string& path, const std::string& header, const void* data, size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  XLSTM_CHECK(f.good(), "cannot write '{}'", path);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(static_cast<const char*>(data), std::streamsize(bytes));
  XLSTM_CHECK(f.good(), "error writing '{}'", path);
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  MappedFile mf(path);
  const unsigned char* p = mf.data();
  size_t n = mf.size();
  XLSTM_CHECK(n >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0, "{}: not a .npy file", path);
  int major = p[6];
  size_t hl, off;
  if (major == 1) {
    hl = size_t(p[8]) | size_t(p[9]) << 8, off = 10;
  } else {
    XLSTM_CHECK(n >= 12 && (major == 2 || major == 3), "{}: unsupported .npy version {}", path, major);
    hl = size_t(p[8]) | size_t(p[9]) << 8 | size_t(p[10]) << 16 | size_t(p[11]) << 24, off = 12;
  }
  XLSTM_CHECK(off + hl <= n, "{}: truncated .npy header", path);
  std::string h(reinterpret_cast<const char*>(p + off), hl);
  std::smatch m;
  NpyArray a;
  XLSTM_CHECK(std::regex_search(h, m, std::regex("'descr':\\s*'([^']*)'")), "{}: .npy header lacks descr", path);
  a.dtype = m[1];
  XLSTM_CHECK(a.dtype == "<i4" || a.dtype == "<i8" || a.dtype == "<f4" || a.dtype == "<f8",
              "{}: unsupported .npy dtype '{}' (expected <i4, <i8, <f4 or <f8)", path, a.dtype);
  XLSTM_CHECK(std::regex_search(h, m, std::regex("'fortran_order':\\s*False")), "{}: Fortran-order .npy not supported",
              path);
  XLSTM_CHECK(std::regex_search(h, m, std::regex("'shape':\\s*\\(([^)]*)\\)")), "{}: .npy header lacks shape", path);
  std::string dims = m[1];
  XLSTM_CHECK(dims.find_first_not_of("0123456789, L") == std::string::npos, "{}: bad .npy shape ({})", path, dims);
  std::regex num("\\d+");
  size_t count = 1;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
    // Sizes that do not fit (or whose product wraps around) must not pass the size check below.
    XLSTM_CHECK(it->length() <= 18, "{}: .npy shape ({}) is too large", path, dims);
    a.shape.push_back(std::stoll(it->str()));
    XLSTM_CHECK(!__builtin_mul_overflow(count, size_t(a.shape.back()), &count), "{}: .npy shape ({}) is too large",
                path, dims);
  }
  size_t esz = (a.dtype == "<i4" || a.dtype == "<f4") ? 4 : 8;
  XLSTM_CHECK(count <= (n - off - hl) / esz, "{}: truncated .npy data ({} elements expected)", path, count);
  const unsigned char* d = p + off + hl;
  a.values.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (a.dtype == "<i4") {
      int32_t v;
      std::memcpy(&v, d + 4 * i, 4);
      a.values[i] = v;
    } else if (a.dtype == "<i8") {
      int64_t v;
      std::memcpy(&v, d + 8 * i, 8);
      a.values[i] = double(v);
    } else if (a.dtype == "<f4") {
      float v;
      std::memcpy(&v, d + 4 * i, 4);
      a.values[i] = v;
    } else {
      std::memcpy(&a.values[i], d + 8 * i, 8);
    }
  }
  return a;
}

std::vector<int32_t> read_npy_ids(const std::string& path) {
  NpyArray a = read_npy(path);
  XLSTM_CHECK(a.dtype == "<i4" || a.dtype == "<i8", "{}: token ids must be int32 or int64, not {}", path, a.dtype);
  XLSTM_CHECK(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[0] == 1),
              "{}: token ids must be a 1-D array (or [1, T])", path);
  std::vector<int32_t> ids;
  ids.reserve(a.values.size());
  for (double v : a.values) {
    XLSTM_CHECK(v >= -2147483648.0 && v <= 2147483647.0, "{}: token id {} does not fit in int32", path, v);
    ids.push_back(int32_t(v));
  }
  return ids;
}

std::vector<float> read_npy_f32(const std::string& path, std::vector<int64_t>* shape) {
  NpyArray a = read_npy(path);
  if (shape) *shape = a.shape;
  return std::vector<float>(a.values.begin(), a.values.end());
}

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape) n *= size_t(d);
  write_raw(path, npy_header("<f4", shape), data, n * 4);
}

void write_npy_i64(const std::string& path, const std::vector<int64_t>& data) {
  write_raw(path, npy_header("<i8", {int64_t(data.size())}), data.data(), data.size() * 8);
}

}  // namespace xlstm
