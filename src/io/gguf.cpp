#include "io/gguf.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/strings.h"

namespace r1 {

static_assert(std::endian::native == std::endian::little, "GGUF reading assumes a little-endian host");
static_assert(sizeof(size_t) == sizeof(uint64_t), "GGUF reading assumes 64-bit sizes");

namespace {

using nlohmann::json;

constexpr uint32_t kMaxDims = 4;                       // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;                      // real files nest at most 1; bounds recursion
constexpr size_t kMinKVBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr size_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims=0, type, offset

enum GGUFValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Smallest encoding of one value of each type, used to reject impossible array counts
// before allocating: a string is at least its 8-byte length, an array its type + count.
constexpr std::array<size_t, 13> kMinValueBytes{1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

struct GGMLType {
  std::string_view name;
  uint32_t block_elems;  // 0: id retired from ggml (no layout)
  uint32_t block_bytes;
  bool quantised;
};

// Indexed by ggml_type id (ggml.h). Block layouts from ggml's type traits.
constexpr std::array<GGMLType, 40> kGGMLTypes{{
    {"F32", 1, 4, false},        // 0
    {"F16", 1, 2, false},        // 1
    {"Q4_0", 32, 18, true},      // 2
    {"Q4_1", 32, 20, true},      // 3
    {"Q4_2", 0, 0, true},        // 4 (removed)
    {"Q4_3", 0, 0, true},        // 5 (removed)
    {"Q5_0", 32, 22, true},      // 6
    {"Q5_1", 32, 24, true},      // 7
    {"Q8_0", 32, 34, true},      // 8
    {"Q8_1", 32, 36, true},      // 9
    {"Q2_K", 256, 84, true},     // 10
    {"Q3_K", 256, 110, true},    // 11
    {"Q4_K", 256, 144, true},    // 12
    {"Q5_K", 256, 176, true},    // 13
    {"Q6_K", 256, 210, true},    // 14
    {"Q8_K", 256, 292, true},    // 15
    {"IQ2_XXS", 256, 66, true},  // 16
    {"IQ2_XS", 256, 74, true},   // 17
    {"IQ3_XXS", 256, 98, true},  // 18
    {"IQ1_S", 256, 50, true},    // 19
    {"IQ4_NL", 32, 18, true},    // 20
    {"IQ3_S", 256, 110, true},   // 21
    {"IQ2_S", 256, 82, true},    // 22
    {"IQ4_XS", 256, 136, true},  // 23
    {"I8", 1, 1, false},         // 24
    {"I16", 1, 2, false},        // 25
    {"I32", 1, 4, false},        // 26
    {"I64", 1, 8, false},        // 27
    {"F64", 1, 8, false},        // 28
    {"IQ1_M", 256, 56, true},    // 29
    {"BF16", 1, 2, false},       // 30
    {"Q4_0_4_4", 0, 0, true},    // 31 (removed)
    {"Q4_0_4_8", 0, 0, true},    // 32 (removed)
    {"Q4_0_8_8", 0, 0, true},    // 33 (removed)
    {"TQ1_0", 256, 54, true},    // 34
    {"TQ2_0", 256, 66, true},    // 35
    {"IQ4_NL_4_4", 0, 0, true},  // 36 (removed)
    {"IQ4_NL_4_8", 0, 0, true},  // 37 (removed)
    {"IQ4_NL_8_8", 0, 0, true},  // 38 (removed)
    {"MXFP4", 32, 17, true},     // 39
}};

// Bounds-checked little-endian reader over the mapped file. `where` describes the current
// position for messages, e.g. "metadata at key 12 ('tokenizer.ggml.tokens')".
class Reader {
 public:
  Reader(const std::string& path, const uint8_t* base, size_t size) : path_(path), base_(base), size_(size) {}

  std::string where = "header";

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T get() {
    if (sizeof(T) > remaining()) fail("{}: truncated {}", path_, where);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view str() {
    const auto len = get<uint64_t>();
    if (len > remaining())
      fail("{}: truncated {}: string length {} exceeds the {} bytes left in the file", path_, where, len,
           remaining());
    const std::string_view s(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

  json value(uint32_t type, int depth) {
    switch (type) {
      case kU8:
        return get<uint8_t>();
      case kI8:
        return get<int8_t>();
      case kU16:
        return get<uint16_t>();
      case kI16:
        return get<int16_t>();
      case kU32:
        return get<uint32_t>();
      case kI32:
        return get<int32_t>();
      case kF32:
        return static_cast<double>(get<float>());
      case kBool:
        return get<uint8_t>() != 0;
      case kString:
        return std::string(str());
      case kU64:
        return get<uint64_t>();
      case kI64:
        return get<int64_t>();
      case kF64:
        return get<double>();
      case kArray: {
        if (depth >= kMaxArrayDepth)
          fail("{}: {} has arrays nested deeper than {} levels", path_, where, kMaxArrayDepth);
        const auto elem_type = get<uint32_t>();
        if (elem_type >= kMinValueBytes.size())
          fail("{}: {} has an array of unknown value type {}", path_, where, elem_type);
        const auto n = get<uint64_t>();
        if (n > remaining() / kMinValueBytes[elem_type])
          fail("{}: truncated {}: array of {} elements cannot fit in the {} bytes left in the file", path_,
               where, n, remaining());
        json arr = json::array();
        arr.get_ref<json::array_t&>().reserve(static_cast<size_t>(n));
        for (uint64_t i = 0; i < n; ++i) arr.push_back(value(elem_type, depth + 1));
        return arr;
      }
      default:
        fail("{}: {} has unknown value type {}", path_, where, type);
    }
  }

 private:
  const std::string& path_;
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
};

struct PendingTensor {
  uint64_t offset;
  size_t index;
};

}  // namespace

GGUFFile::GGUFFile(const std::string& path) : file_(path) {
  const uint8_t* base = file_.data();
  const size_t size = file_.size();
  if (size < 4 || std::memcmp(base, "GGUF", 4) != 0) fail("{}: not a GGUF file (bad magic)", path);

  Reader r(path, base, size);
  r.get<uint32_t>();  // magic
  version_ = r.get<uint32_t>();
  if (version_ != 2 && version_ != 3) {
    const uint32_t swapped = __builtin_bswap32(version_);
    if (swapped == 2 || swapped == 3) fail("{}: big-endian GGUF files are not supported", path);
    fail("{}: unsupported GGUF version {} (only versions 2 and 3 are supported)", path, version_);
  }
  const auto n_tensors = r.get<uint64_t>();
  const auto n_kv = r.get<uint64_t>();
  // Counts are checked against what the rest of the file could hold before anything is
  // reserved; the tensor count only once the metadata is read, so that a file truncated in
  // the metadata is reported at the key where it ends.
  if (n_kv > r.remaining() / kMinKVBytes)
    fail("{}: truncated header: metadata key count {} cannot fit in the {} bytes left in the file", path,
         n_kv, r.remaining());

  metadata_ = json::object();
  for (uint64_t i = 0; i < n_kv; ++i) {
    r.where = fmt::format("metadata at key {}", i);
    const std::string key(r.str());
    r.where = fmt::format("metadata at key {} ('{}')", i, printable(key));
    const auto type = r.get<uint32_t>();
    json v = r.value(type, 0);
    if (!metadata_.emplace(key, std::move(v)).second)
      fail("{}: duplicate metadata key '{}' (key {})", path, printable(key), i);
  }

  if (const auto it = metadata_.find("general.alignment"); it != metadata_.end()) {
    const json& a = *it;
    const bool is_int = a.is_number_integer();
    const int64_t v = is_int ? a.get<int64_t>() : 0;
    if (!is_int || v <= 0 || v > (int64_t{1} << 30) || (v & (v - 1)) != 0)
      fail("{}: general.alignment {} is not a power of two between 1 and 2^30", path, a.dump());
    alignment_ = static_cast<uint64_t>(v);
  }

  r.where = "tensor infos";
  if (n_tensors > r.remaining() / kMinTensorInfoBytes)
    fail("{}: truncated tensor infos: tensor count {} cannot fit in the {} bytes left in the file", path,
         n_tensors, r.remaining());
  tensors_.reserve(static_cast<size_t>(n_tensors));
  std::vector<PendingTensor> pending;
  pending.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    r.where = fmt::format("tensor info {}", i);
    GGUFTensor t;
    t.name = std::string(r.str());
    const std::string pname = printable(t.name);
    r.where = fmt::format("tensor info {} ('{}')", i, pname);
    const auto n_dims = r.get<uint32_t>();
    if (n_dims > kMaxDims)
      fail("{}: tensor '{}' has {} dimensions (at most {} are supported)", path, pname, n_dims, kMaxDims);
    std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = r.get<int64_t>();
      if (ne[d] < 0) fail("{}: tensor '{}' has negative dimension {} (ne[{}])", path, pname, ne[d], d);
    }
    t.ggml_type = r.get<uint32_t>();
    const auto offset = r.get<uint64_t>();

    if (t.ggml_type >= kGGMLTypes.size())
      fail("{}: tensor '{}' has unknown ggml type {}", path, pname, t.ggml_type);
    const GGMLType& gt = kGGMLTypes[t.ggml_type];
    t.type_name = std::string(gt.name);
    if (gt.block_elems == 0)
      fail("{}: tensor '{}' has ggml type {} ({}), which has been removed from ggml", path, pname,
           t.ggml_type, gt.name);
    for (uint32_t d = n_dims; d-- > 0;) t.shape.push_back(ne[d]);

    // Quantised rows are whole blocks: bytes = (ne0 / block) * block_bytes * ne1 * ne2 * ne3.
    if (ne[0] % gt.block_elems != 0)
      fail("{}: tensor '{}' row length {} is not a multiple of the {} block size {}", path, pname, ne[0],
           gt.name, gt.block_elems);
    uint64_t nbytes = static_cast<uint64_t>(ne[0]) / gt.block_elems * gt.block_bytes;
    for (size_t d = 1; d < kMaxDims; ++d)
      if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(ne[d]), &nbytes))
        fail("{}: tensor '{}' shape [{}] is too large", path, pname, fmt::join(t.shape, ", "));
    if (offset % alignment_ != 0)
      fail("{}: tensor '{}' data offset {} is not a multiple of the alignment {}", path, pname, offset,
           alignment_);
    t.nbytes = nbytes;  // size_t is 64-bit (asserted above); checked against the data section below

    if (!index_.emplace(t.name, tensors_.size()).second) fail("{}: duplicate tensor name '{}'", path, pname);
    pending.push_back({offset, tensors_.size()});
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment. A file without tensor
  // data may end before that point.
  const uint64_t data_start = std::min<uint64_t>((r.pos() + alignment_ - 1) / alignment_ * alignment_, size);
  const uint64_t data_size = size - data_start;
  for (const PendingTensor& p : pending) {
    GGUFTensor& t = tensors_[p.index];
    if (p.offset > data_size || t.nbytes > data_size - p.offset) {
      uint64_t end = 0;
      if (__builtin_add_overflow(p.offset, t.nbytes, &end))
        fail("{}: tensor '{}' data (offset {}, {} bytes) exceeds the data section ({} bytes)", path,
             printable(t.name), p.offset, t.nbytes, data_size);
      fail("{}: tensor '{}' data range [{}, {}) exceeds the data section ({} bytes)", path, printable(t.name),
           p.offset, end, data_size);
    }
    t.data = base + data_start + p.offset;
  }

  // No two non-empty tensors may share bytes.
  std::sort(pending.begin(), pending.end(), [&](const PendingTensor& a, const PendingTensor& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    return tensors_[a.index].nbytes < tensors_[b.index].nbytes;
  });
  const PendingTensor* prev = nullptr;  // non-empty tensor reaching furthest so far
  auto end_of = [&](const PendingTensor& p) { return p.offset + tensors_[p.index].nbytes; };
  for (const PendingTensor& p : pending) {
    if (tensors_[p.index].nbytes == 0) continue;
    if (prev != nullptr && p.offset < end_of(*prev))
      fail("{}: tensor '{}' data range [{}, {}) overlaps tensor '{}' [{}, {})", path,
           printable(tensors_[p.index].name), p.offset, end_of(p), printable(tensors_[prev->index].name),
           prev->offset, end_of(*prev));
    if (prev == nullptr || end_of(p) > end_of(*prev)) prev = &p;
  }
}

const GGUFTensor* GGUFFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

TensorInfo GGUFFile::tensor_info(const GGUFTensor& t) const {
  TensorInfo info;
  switch (t.ggml_type) {
    case 0:
      info.dtype = DType::F32;
      break;
    case 1:
      info.dtype = DType::F16;
      break;
    case 30:
      info.dtype = DType::BF16;
      break;
    default: {
      const bool quantised = t.ggml_type < kGGMLTypes.size() && kGGMLTypes[t.ggml_type].quantised;
      fail("{}: tensor '{}' has {} type {}; only F32, F16 and BF16 are supported", path(), printable(t.name),
           quantised ? "quantised" : "unsupported", t.type_name);
    }
  }
  info.name = t.name;
  info.shape = t.shape;
  info.data = t.data;
  info.nbytes = t.nbytes;
  info.file = path();
  return info;
}

}  // namespace r1
