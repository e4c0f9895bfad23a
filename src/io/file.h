// Whole-file I/O: read-only memory maps for model weights, whole-file reads, and crash-safe
// (write temp + fsync + rename) writes for checkpoints and configs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace r1 {

// A read-only, private memory map of a whole file. The mapping address never changes while
// the object lives (moving the object keeps it), so pointers into data() stay valid until
// the owning MappedFile is destroyed. An empty file is valid: size() == 0 and data() points
// at a static zero byte (never null, so memcpy(dst, data(), 0) is well defined).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // false for empty files (mmap of length 0 is invalid)
};

// Reads a whole file into a string (binary-safe).
std::string read_file(const std::string& path);

// Writes `path` atomically: writer fills a temporary file in the same directory
// (path + ".tmp" + pid + "." + counter), which is flushed, fsync'ed and renamed over path;
// then the directory is fsync'ed. Readers see either the old file or the complete new one.
// On any failure (a failed write detected via ferror, or an exception from writer) the
// temporary file is removed and an r1::Error naming path is thrown.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer);
void write_file_atomic(const std::string& path, std::string_view contents);

// Creates a directory and any missing parents (like mkdir -p). Existing directories are fine;
// an existing non-directory in the way is an error.
void make_dirs(const std::string& path);

}  // namespace r1
