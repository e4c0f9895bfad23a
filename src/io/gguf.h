// GGUF (llama.cpp's model format) reader, versions 2 and 3, little-endian.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 key/value count, the key/values
// (string key, u32 value type, value), the tensor infos (string name, u32 n_dims,
// i64 ne[n_dims], u32 ggml type, u64 offset), padding to the alignment (general.alignment,
// default 32), then the data section; tensor offsets are relative to its start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "io/file.h"
#include "io/safetensors.h"

namespace r1 {

struct GGUFTensor {
  std::string name;
  uint32_t ggml_type = 0;
  std::string type_name;       // "F32", "Q4_0", ...
  std::vector<int64_t> shape;  // row-major: GGUF's ne[] reversed (ne = {in, out} -> {out, in})
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
};

class GGUFFile {
 public:
  explicit GGUFFile(const std::string& path);

  uint32_t version() const { return version_; }
  // Object key -> value: integers and floats as JSON numbers, strings, bools, arrays as
  // (possibly nested) JSON arrays. Strings keep their bytes as stored.
  const nlohmann::json& metadata() const { return metadata_; }
  // In file order.
  const std::vector<GGUFTensor>& tensors() const { return tensors_; }
  const GGUFTensor* find(std::string_view name) const;
  // The tensor as a TensorInfo (F32, F16, BF16 only); other types are an r1::Error.
  TensorInfo tensor_info(const GGUFTensor& t) const;
  const std::string& path() const { return file_.path(); }
  uint64_t alignment() const { return alignment_; }

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  nlohmann::json metadata_;
  std::vector<GGUFTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace r1
