// Safetensors reading (single files, model directories, sharded indexes) and writing.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the data section; offsets are relative to the start of the data section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/dtype.h"
#include "io/file.h"

namespace r1 {

// One stored tensor. data points into a memory map owned by the file object the info came
// from; it may be unaligned (use memcpy / convert_to_f32 rather than casting).
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // row-major; {} is a scalar
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // path of the file holding the data (for error messages)

  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  // In data-section order (ascending data_offsets).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model: a single file or the shards named by model.safetensors.index.json.
class SafetensorsModel {
 public:
  // path: a directory holding model.safetensors (preferred, as in HF transformers) or
  // model.safetensors.index.json; a *.index.json file; or a single .safetensors file.
  static SafetensorsModel open(const std::string& path);

  const TensorInfo* find(std::string_view name) const;
  // Every tensor of every shard: shards in file-name order, each in data-section order.
  std::vector<const TensorInfo*> tensors() const;
  const std::string& path() const { return path_; }
  // The opened files (one per shard).
  size_t num_files() const { return files_.size(); }

 private:
  SafetensorsModel() = default;

  std::string path_;
  // unique_ptr keeps TensorInfo addresses stable, so index_ may hold raw pointers.
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> index_;
};

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  const void* data = nullptr;  // numel * dtype_size(dtype) bytes
};

// Writes a safetensors file atomically (write_file_atomic). Tensors are laid out in the given
// order; the JSON header is padded with spaces to a multiple of 8 bytes so the data section
// is 8-byte aligned.
void save_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace r1
