// Why: the checkpoint reader. Opens a Hugging Face model directory's safetensors (one file, or shards
// listed in model.safetensors.index.json), validates every header fully (JSON, dtype, shape, offsets
// inside the file, byte size = shape x dtype, no overlaps) and serves tensors as zero-copy HostTensor
// views of the mapped files. Also holds in-memory tensors (random weights for benchmarks).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "io/mapped_file.h"

namespace xlstm {

class TensorStore {
 public:
  // Opens DIR/model.safetensors.index.json (sharded) or DIR/model.safetensors, or a single .safetensors path.
  static TensorStore open(const std::string& path);
  // Parses and validates one safetensors file and adds its tensors (used by open; public for tests).
  void add_file(const std::string& file);
  // Adds an owned in-memory tensor (bytes copied into the store, or moved).
  void add_owned(const std::string& name, DType dt, std::vector<int64_t> shape, std::vector<uint8_t> bytes);

  const HostTensor* find(const std::string& name) const;
  const HostTensor& get(const std::string& name) const;  // throws "missing tensor 'name'"
  std::vector<std::string> names() const;
  size_t size() const { return tensors_.size(); }
  size_t total_bytes() const;
  // Frees a tensor's bytes once they were copied elsewhere (owned memory is freed, mapped pages are
  // returned to the kernel). Its name, dtype and shape stay; its data must not be read afterwards.
  void release(const std::string& name);
  const std::vector<std::string>& files() const { return file_names_; }

 private:
  struct Entry {
    HostTensor t;
    int file = -1;                         // index in files_, -1 when owned
    std::vector<uint8_t>* owned = nullptr;  // the bytes when this store holds them
  };
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<std::string> file_names_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> owned_;
  std::map<std::string, Entry> tensors_;
};

// Writes tensors to a safetensors file (header padded to 8 bytes, tensors in the given order).
void write_safetensors(const std::string& path, const std::vector<HostTensor>& tensors);

}  // namespace xlstm
