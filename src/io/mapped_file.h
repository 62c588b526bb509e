// Why: read-only memory maps of checkpoint files, so weights are paged in on demand and never copied
// when the model can use them in their stored dtype.
#pragma once
#include <cstddef>
#include <string>

namespace xlstm {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws xlstm::Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return static_cast<const unsigned char*>(data_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Tells the kernel a range will no longer be used (after its bytes were copied elsewhere).
  void drop(const void* p, size_t bytes) const;

 private:
  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string; throws naming the path.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace xlstm
