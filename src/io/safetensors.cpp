// Why: see safetensors.h. Format: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data section.
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "common/check.h"

namespace xlstm {
namespace {

std::string join_path(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

TensorStore TensorStore::open(const std::string& path) {
  TensorStore st;
  if (ends_with(path, ".safetensors")) {
    st.add_file(path);
    return st;
  }
  const std::string index = join_path(path, "model.safetensors.index.json");
  const std::string single = join_path(path, "model.safetensors");
  if (file_exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(index));
    } catch (const nlohmann::json::exception& e) {
      XLSTM_FAIL("{}: invalid JSON: {}", index, e.what());
    }
    XLSTM_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
                "{}: missing object 'weight_map'", index);
    std::vector<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items()) {
      XLSTM_CHECK(file.is_string(), "{}: weight_map['{}'] is not a file name", index, name);
      std::string f = file.get<std::string>();
      XLSTM_CHECK(f.find('/') == std::string::npos && f.find("..") == std::string::npos,
                  "{}: shard name '{}' must be a plain file name", index, f);
      if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    }
    XLSTM_CHECK(!shards.empty(), "{}: weight_map is empty", index);
    for (const auto& f : shards) {
      const std::string p = join_path(path, f);
      XLSTM_CHECK(file_exists(p), "missing shard '{}' (listed in {})", p, index);
      st.add_file(p);
    }
    for (auto& [name, file] : j["weight_map"].items()) {
      auto it = st.tensors_.find(name);
      XLSTM_CHECK(it != st.tensors_.end(), "tensor '{}' listed in {} is not in shard '{}'", name, index,
                  file.get<std::string>());
      XLSTM_CHECK(st.file_names_[size_t(it->second.file)] == join_path(path, file.get<std::string>()),
                  "tensor '{}' is in '{}', but {} says '{}'", name, st.file_names_[size_t(it->second.file)],
                  index, file.get<std::string>());
    }
    return st;
  }
  XLSTM_CHECK(file_exists(single), "no weights in '{}': expected model.safetensors or model.safetensors.index.json",
              path);
  st.add_file(single);
  return st;
}

void TensorStore::add_file(const std::string& file) {
  auto mf = std::make_unique<MappedFile>(file);
  const size_t fsize = mf->size();
  XLSTM_CHECK(fsize >= 8, "{}: truncated safetensors file ({} bytes, no header)", file, fsize);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | mf->data()[i];
  XLSTM_CHECK(hlen <= fsize - 8, "{}: header length {} exceeds the file size {}", file, hlen, fsize);
  XLSTM_CHECK(hlen <= (uint64_t(100) << 20), "{}: header length {} is implausibly large", file, hlen);
  nlohmann::json hdr;
  try {
    hdr = nlohmann::json::parse(mf->data() + 8, mf->data() + 8 + hlen);
  } catch (const nlohmann::json::exception& e) {
    XLSTM_FAIL("{}: corrupt safetensors header (invalid JSON: {})", file, e.what());
  }
  XLSTM_CHECK(hdr.is_object(), "{}: safetensors header is not a JSON object", file);
  const size_t data_start = 8 + size_t(hlen);
  const size_t data_size = fsize - data_start;
  const int file_index = int(files_.size());
  struct Span {
    uint64_t b, e;
    std::string name;
  };
  std::vector<Span> spans;
  // Staged, and committed only once the whole header is valid: a rejected file leaves the store as it was
  // (no entries pointing into a file that is unmapped when this throws).
  std::map<std::string, Entry> staged;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> staged_owned;
  for (auto& [name, v] : hdr.items()) {
    if (name == "__metadata__") continue;
    XLSTM_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
                "{}: tensor '{}' lacks dtype, shape or data_offsets", file, name);
    XLSTM_CHECK(v["dtype"].is_string(), "{}: tensor '{}': dtype is not a string", file, name);
    HostTensor t;
    t.name = name;
    const std::string dts = v["dtype"].get<std::string>();
    XLSTM_CHECK(dts == "F32" || dts == "BF16" || dts == "F16",
                "{}: tensor '{}' has unsupported dtype '{}' (supported: F32, BF16, F16)", file, name, dts);
    dtype_from_name(dts, &t.dtype);
    XLSTM_CHECK(v["shape"].is_array() && v["shape"].size() <= 8, "{}: tensor '{}': bad shape", file, name);
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      XLSTM_CHECK(d.is_number_unsigned(), "{}: tensor '{}': shape entries must be non-negative integers", file,
                  name);
      uint64_t dv = d.get<uint64_t>();
      XLSTM_CHECK(dv < (uint64_t(1) << 40) && (dv == 0 || numel <= (uint64_t(1) << 62) / dv),
                  "{}: tensor '{}': shape overflows", file, name);
      numel *= dv;
      t.shape.push_back(int64_t(dv));
    }
    auto& off = v["data_offsets"];
    XLSTM_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                "{}: tensor '{}': data_offsets must be two non-negative integers", file, name);
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    XLSTM_CHECK(b <= e && e <= data_size, "{}: tensor '{}': offsets [{}, {}) lie outside the data section ({} bytes)",
                file, name, b, e, data_size);
    XLSTM_CHECK(e - b == numel * dtype_size(t.dtype),
                "{}: tensor '{}': {} bytes stored but shape x dtype needs {}", file, name, e - b,
                numel * dtype_size(t.dtype));
    if (auto dup = tensors_.find(name); dup != tensors_.end())
      XLSTM_FAIL("{}: tensor '{}' appears twice (also in {})", file, name,
                 dup->second.file >= 0 ? file_names_[size_t(dup->second.file)] : std::string("memory"));
    const unsigned char* p = mf->data() + data_start + b;
    std::vector<uint8_t>* copy = nullptr;
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(t.dtype) != 0) {  // misaligned: keep an aligned copy
      auto buf = std::make_unique<std::vector<uint8_t>>(p, p + (e - b));
      t.data = buf->data();
      copy = buf.get();
      staged_owned.push_back(std::move(buf));
    } else {
      t.data = p;
    }
    spans.push_back({b, e, name});
    staged[name] = Entry{std::move(t), file_index, copy};
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.b < y.b; });
  for (size_t i = 1; i < spans.size(); ++i)
    XLSTM_CHECK(spans[i].b >= spans[i - 1].e, "{}: tensors '{}' and '{}' overlap", file, spans[i - 1].name,
                spans[i].name);
  tensors_.merge(staged);
  for (auto& buf : staged_owned) owned_.push_back(std::move(buf));
  files_.push_back(std::move(mf));
  file_names_.push_back(file);
}

void TensorStore::add_owned(const std::string& name, DType dt, std::vector<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  HostTensor t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  XLSTM_CHECK(size_t(t.numel()) * dtype_size(dt) == bytes.size(), "tensor '{}': size mismatch", name);
  auto buf = std::make_unique<std::vector<uint8_t>>(std::move(bytes));
  t.data = buf->data();
  std::vector<uint8_t>* raw = buf.get();
  owned_.push_back(std::move(buf));
  tensors_[name] = Entry{std::move(t), -1, raw};
}

const HostTensor* TensorStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second.t;
}

const HostTensor& TensorStore::get(const std::string& name) const {
  const HostTensor* t = find(name);
  XLSTM_CHECK(t, "missing tensor '{}'", name);
  return *t;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : tensors_) out.push_back(k);
  return out;
}

size_t TensorStore::total_bytes() const {
  size_t n = 0;
  for (auto& [k, v] : tensors_) n += size_t(v.t.numel()) * dtype_size(v.t.dtype);
  return n;
}

void TensorStore::release(const std::string& name) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return;
  Entry& e = it->second;
  if (e.owned) {
    std::vector<uint8_t>().swap(*e.owned);
  } else if (e.file >= 0 && e.t.data) {
    files_[size_t(e.file)]->drop(e.t.data, size_t(e.t.numel()) * dtype_size(e.t.dtype));
  }
  e.t.data = nullptr;
}

void write_safetensors(const std::string& path, const std::vector<HostTensor>& tensors) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  uint64_t off = 0;
  for (const auto& t : tensors) {
    const uint64_t bytes = uint64_t(t.numel()) * dtype_size(t.dtype);
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
  }
  std::string hs = h.dump();
  hs.append((8 - hs.size() % 8) % 8, ' ');
  std::ofstream f(path, std::ios::binary);
  XLSTM_CHECK(f.good(), "cannot write '{}'", path);
  uint64_t n = hs.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(n >> (8 * i));
  f.write(reinterpret_cast<const char*>(len), 8);
  f.write(hs.data(), std::streamsize(hs.size()));
  for (const auto& t : tensors) f.write(static_cast<const char*>(t.data), std::streamsize(size_t(t.numel()) * dtype_size(t.dtype)));
  XLSTM_CHECK(f.good(), "error writing '{}'", path);
}

}  // namespace xlstm
