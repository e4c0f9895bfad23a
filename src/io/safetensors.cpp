#include "io/safetensors.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "core/error.h"
#include "core/strings.h"
#include "io/encoding.h"
#include "io/json.h"

namespace r1 {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using nlohmann::json;

// The reference implementation's limit; anything bigger is not a real header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Real headers nest 3 levels; the limit bounds parser and destructor work on hostile input.
constexpr int kMaxJsonDepth = 32;

std::string shape_str(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// nlohmann messages start with "[json.exception.parse_error.101] "; keep the readable part.
std::string json_error_text(const std::exception& e) {
  std::string msg = e.what();
  const size_t p = msg.find("] ");
  if (msg.rfind("[json.exception.", 0) == 0 && p != std::string::npos) msg.erase(0, p + 2);
  return msg;
}

// Parses JSON, rejecting duplicate object keys (which nlohmann would silently collapse) and
// absurd nesting. `what` names the document in messages ("header", "index").
json parse_json_strict(std::string_view text, const std::string& path, std::string_view what) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) fail("{}: {} nests deeper than {} levels", path, what, kMaxJsonDepth);
        if (ev == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          if (depth == 1 && what == "header")
            fail("{}: duplicate tensor name '{}' in the header", path, printable(parsed.get<std::string>()));
          fail("{}: duplicate key '{}' in {}", path, printable(parsed.get<std::string>()), what);
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return parse_json_with_callback(text, fmt::format("{}: {}", path, what), cb);
  } catch (const json::exception& e) {
    fail("{}: {} is not valid JSON: {}", path, what, json_error_text(e));
  }
}

// Reads a non-negative JSON integer that fits in uint64_t.
bool get_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

// Element count of shape times elem_size, or false on overflow. Dims must be >= 0.
bool checked_nbytes(const std::vector<int64_t>& shape, size_t elem_size, uint64_t& out) {
  uint64_t n = elem_size;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  out = n;
  return true;
}

TensorInfo parse_tensor_entry(const std::string& path, const std::string& name, const json& entry,
                              const uint8_t* data_base, uint64_t data_size, uint64_t& begin_out) {
  const std::string pname = printable(name);
  if (!entry.is_object()) fail("{}: tensor '{}': entry is not a JSON object", path, pname);

  const auto dt_it = entry.find("dtype");
  if (dt_it == entry.end()) fail("{}: tensor '{}' has no \"dtype\"", path, pname);
  if (!dt_it->is_string()) fail("{}: tensor '{}': \"dtype\" is not a string", path, pname);
  const std::string dt_name = dt_it->get<std::string>();
  const std::optional<DType> dtype = dtype_from_name(dt_name);
  if (!dtype) fail("{}: tensor '{}' has unknown dtype '{}'", path, pname, dt_name);

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) fail("{}: tensor '{}' has no \"shape\"", path, pname);
  if (!shape_it->is_array()) fail("{}: tensor '{}': \"shape\" is not an array", path, pname);
  std::vector<int64_t> shape;
  shape.reserve(shape_it->size());
  for (const json& d : *shape_it) {
    if (d.is_number_integer() && !d.is_number_unsigned()) {
      const auto v = d.get<int64_t>();
      if (v < 0) fail("{}: tensor '{}' has a negative dimension {} in its shape", path, pname, v);
      shape.push_back(v);
    } else if (d.is_number_unsigned()) {
      const auto v = d.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("{}: tensor '{}' has dimension {} in its shape, which is too large", path, pname, v);
      shape.push_back(static_cast<int64_t>(v));
    } else {
      fail("{}: tensor '{}' has a non-integer dimension {} in its shape", path, pname, d.dump());
    }
  }

  const auto off_it = entry.find("data_offsets");
  if (off_it == entry.end()) fail("{}: tensor '{}' has no \"data_offsets\"", path, pname);
  uint64_t begin = 0, end = 0;
  if (!off_it->is_array() || off_it->size() != 2 || !get_u64((*off_it)[0], begin) ||
      !get_u64((*off_it)[1], end))
    fail("{}: tensor '{}': \"data_offsets\" must be two non-negative integers, got {}", path, pname,
         off_it->dump());
  if (begin > end)
    fail("{}: tensor '{}' has data_offsets [{}, {}] with begin > end", path, pname, begin, end);
  if (end > data_size)
    fail("{}: tensor '{}' data range [{}, {}) exceeds the data section ({} bytes)", path, pname, begin, end,
         data_size);

  uint64_t need = 0;
  if (!checked_nbytes(shape, dtype_size(*dtype), need))
    fail("{}: tensor '{}' shape {} of {} is too large", path, pname, shape_str(shape), dt_name);
  if (need != end - begin)
    fail("{}: tensor '{}' has {} bytes of data (data_offsets [{}, {})) but shape {} of {} needs {}", path,
         pname, end - begin, begin, end, shape_str(shape), dt_name, need);

  TensorInfo t;
  t.name = name;
  t.dtype = *dtype;
  t.shape = std::move(shape);
  t.data = data_base + begin;
  t.nbytes = static_cast<size_t>(end - begin);
  t.file = path;
  begin_out = begin;
  return t;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint8_t* base = file_.data();
  const uint64_t size = file_.size();
  if (size < 8)
    fail("{}: file is too short to be a safetensors file ({} bytes; the header length alone takes 8)", path,
         size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, base, 8);  // little-endian (asserted above)
  if (header_len > size - 8)
    fail("{}: header length {} exceeds the file size ({} bytes after the 8-byte length)", path, header_len,
         size - 8);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} is larger than the {} bytes allowed", path, header_len, kMaxHeaderBytes);

  const std::string_view text(reinterpret_cast<const char*>(base + 8), static_cast<size_t>(header_len));
  const json header = parse_json_strict(text, path, "header");
  if (!header.is_object()) fail("{}: header is not a JSON object", path);

  const uint8_t* data_base = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, TensorInfo>> found;  // (begin offset, info)
  found.reserve(header.size());
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: \"__metadata__\" is not a JSON object", path);
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string())
          fail("{}: \"__metadata__\" value for key '{}' is not a string: {}", path, printable(k), v.dump());
        metadata_.emplace(k, v.get<std::string>());
      }
      continue;
    }
    uint64_t begin = 0;
    TensorInfo t = parse_tensor_entry(path, name, entry, data_base, data_size, begin);
    found.emplace_back(begin, std::move(t));
  }

  // Data-section order; then no two non-empty tensors may share bytes.
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (a.second.nbytes != b.second.nbytes) return a.second.nbytes < b.second.nbytes;
    return a.second.name < b.second.name;
  });
  const std::pair<uint64_t, TensorInfo>* prev = nullptr;  // non-empty tensor reaching furthest
  for (const auto& cur : found) {
    if (cur.second.nbytes == 0) continue;
    if (prev != nullptr && cur.first < prev->first + prev->second.nbytes)
      fail("{}: tensor '{}' data range [{}, {}) overlaps tensor '{}' [{}, {})", path,
           printable(cur.second.name), cur.first, cur.first + cur.second.nbytes, printable(prev->second.name),
           prev->first, prev->first + prev->second.nbytes);
    if (prev == nullptr || cur.first + cur.second.nbytes > prev->first + prev->second.nbytes) prev = &cur;
  }

  tensors_.reserve(found.size());
  for (auto& [begin, t] : found) {
    index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsModel SafetensorsModel::open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st))
    fail("{}: cannot open: {}", path, ec ? ec.message() : "No such file or directory");

  std::string index_path;
  std::string single_path;
  if (fs::is_directory(st)) {
    const std::string single = (fs::path(path) / "model.safetensors").string();
    const std::string index = (fs::path(path) / "model.safetensors.index.json").string();
    if (fs::exists(single, ec)) {
      single_path = single;
    } else if (fs::exists(index, ec)) {
      index_path = index;
    } else {
      fail("{}: directory has neither model.safetensors nor model.safetensors.index.json", path);
    }
  } else if (path.size() >= 11 && path.compare(path.size() - 11, 11, ".index.json") == 0) {
    index_path = path;
  } else {
    single_path = path;
  }

  SafetensorsModel model;
  model.path_ = path;
  if (!single_path.empty()) {
    model.files_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const TensorInfo& t : model.files_.back()->tensors()) model.index_.emplace(t.name, &t);
    return model;
  }

  const json index = parse_json_strict(read_text_file(index_path), index_path, "index");  // UTF-8 only
  if (!index.is_object()) fail("{}: index is not a JSON object", index_path);
  const auto wm = index.find("weight_map");
  if (wm == index.end()) fail("{}: index has no \"weight_map\"", index_path);
  if (!wm->is_object()) fail("{}: \"weight_map\" is not a JSON object", index_path);
  if (wm->empty()) fail("{}: \"weight_map\" is empty", index_path);

  std::map<std::string, std::vector<std::string>> by_shard;  // shard file -> tensors mapped to it
  for (const auto& [tensor, shard_v] : wm->items()) {
    if (!shard_v.is_string())
      fail("{}: weight_map entry for tensor '{}' is not a string: {}", index_path, printable(tensor),
           shard_v.dump());
    const std::string shard = shard_v.get<std::string>();
    const fs::path sp(shard);
    const bool escapes = std::any_of(sp.begin(), sp.end(), [](const fs::path& c) { return c == ".."; });
    if (shard.empty() || sp.is_absolute() || escapes)
      fail("{}: weight_map entry for tensor '{}' names '{}', which is not a file inside the model directory",
           index_path, printable(tensor), printable(shard));
    by_shard[shard].push_back(tensor);
  }

  const fs::path dir = fs::path(index_path).parent_path();
  for (const auto& [shard, names] : by_shard) {
    const std::string shard_path = (dir / shard).string();
    if (!fs::is_regular_file(shard_path, ec))
      fail("{}: weight_map names shard '{}' (for tensor '{}'), which does not exist", index_path,
           printable(shard), printable(names.front()));
    model.files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
    const SafetensorsFile& file = *model.files_.back();
    for (const TensorInfo& t : file.tensors()) {
      const auto [it, inserted] = model.index_.emplace(t.name, &t);
      if (!inserted)
        fail("{}: tensor '{}' is present in both '{}' and '{}'", index_path, printable(t.name),
             it->second->file, shard_path);
    }
    for (const std::string& name : names)
      if (file.find(name) == nullptr)
        fail("{}: weight_map maps tensor '{}' to '{}', which has no such tensor", index_path, printable(name),
             printable(shard));
  }
  return model;
}

const TensorInfo* SafetensorsModel::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<const TensorInfo*> SafetensorsModel::tensors() const {
  std::vector<const TensorInfo*> out;
  out.reserve(index_.size());
  for (const auto& f : files_)
    for (const TensorInfo& t : f->tensors()) out.push_back(&t);
  return out;
}

void save_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps "__metadata__" first and tensors in the given order, like the layout.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> names;
  std::vector<uint64_t> sizes;
  sizes.reserve(tensors.size());
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty()) fail("{}: cannot save a tensor with an empty name", path);
    if (t.name == "__metadata__") fail("{}: cannot save a tensor named '__metadata__'", path);
    if (!names.insert(t.name).second) fail("{}: cannot save two tensors named '{}'", path, t.name);
    for (int64_t d : t.shape)
      if (d < 0)
        fail("{}: cannot save tensor '{}' with negative dimension in shape {}", path, t.name,
             shape_str(t.shape));
    uint64_t nb = 0;
    if (!checked_nbytes(t.shape, dtype_size(t.dtype), nb) || __builtin_add_overflow(offset, nb, &nb))
      fail("{}: cannot save tensor '{}': shape {} is too large", path, t.name, shape_str(t.shape));
    nb -= offset;
    if (nb > 0 && t.data == nullptr) fail("{}: cannot save tensor '{}': no data", path, t.name);
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", nlohmann::ordered_json::array({offset, offset + nb})}};
    sizes.push_back(nb);
    offset += nb;
  }

  std::string text;
  try {
    text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  } catch (const nlohmann::ordered_json::exception& e) {
    fail("{}: cannot save: a tensor name or metadata string is not valid UTF-8 ({})", path,
         json_error_text(e));
  }
  // Spaces are valid trailing JSON whitespace; padding makes 8 + header a multiple of 8.
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomic(path, [&](std::FILE* f) {
    uint8_t len[8];
    const uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    auto put = [&](const void* p, size_t bytes) {
      if (bytes > 0 && std::fwrite(p, 1, bytes, f) != bytes)
        fail("{}: write failed: {}", path, std::error_code(errno, std::generic_category()).message());
    };
    put(len, 8);
    put(text.data(), text.size());
    for (size_t i = 0; i < tensors.size(); ++i) put(tensors[i].data, static_cast<size_t>(sizes[i]));
  });
}

}  // namespace r1
