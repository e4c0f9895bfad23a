#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/dtype.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::expect_error;
using r1::testing::scratch_dir;

// A raw safetensors file: 8-byte length (header.size() unless overridden), header, data.
std::string raw_file(const std::string& header, const std::string& data, std::optional<uint64_t> len = {}) {
  const uint64_t n = len.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

// Writes a one-header file and expects opening it to fail with the given message parts.
void expect_bad_header(const std::string& header, size_t data_bytes,
                       std::initializer_list<std::string> parts) {
  const std::string path = scratch_dir() + "/model.safetensors";
  r1::write_file_atomic(path, raw_file(header, std::string(data_bytes, '\x01')));
  std::vector<std::string> all(parts);
  all.push_back(path);
  SCOPED_TRACE("header " + header);
  expect_error([&] { r1::SafetensorsFile f(path); }, all);
}

std::vector<float> iota_f32(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + 0.5f * static_cast<float>(i);
  return v;
}

}  // namespace

TEST(Safetensors, RoundTripIdenticalBytes) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/model.safetensors";
  const std::vector<float> a = iota_f32(6, -1.0f);
  std::vector<uint16_t> h(5), b(3);
  for (size_t i = 0; i < h.size(); ++i) h[i] = r1::f32_to_f16(0.25f * static_cast<float>(i));
  for (size_t i = 0; i < b.size(); ++i) b[i] = r1::f32_to_bf16(-3.0f * static_cast<float>(i));
  const std::vector<int64_t> ids = {1, -2, 1LL << 40};
  const std::vector<uint8_t> flags = {1, 0, 1, 1};
  const double scalar = 3.25;
  const std::vector<r1::TensorToWrite> tensors = {
      {"z.first", {2, 3}, r1::DType::F32, a.data()}, {"half", {5}, r1::DType::F16, h.data()},
      {"brain", {3, 1}, r1::DType::BF16, b.data()},  {"ids", {3}, r1::DType::I64, ids.data()},
      {"empty", {0, 4}, r1::DType::F32, nullptr},    {"flags", {2, 2}, r1::DType::BOOL, flags.data()},
      {"scalar", {}, r1::DType::F64, &scalar},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "caf\xc3\xa9 \"quoted\""}};
  r1::save_safetensors(path, tensors, meta);

  const r1::SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.tensors().size(), tensors.size());
  const std::string bytes = r1::read_file(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);  // data section aligned
  for (size_t i = 0; i < tensors.size(); ++i) {
    const r1::TensorInfo& t = f.tensors()[i];  // written order == data order
    EXPECT_EQ(t.name, tensors[i].name);
    EXPECT_EQ(t.dtype, tensors[i].dtype);
    EXPECT_EQ(t.shape, tensors[i].shape);
    EXPECT_EQ(t.file, path);
    ASSERT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * r1::dtype_size(t.dtype));
    if (t.nbytes > 0) {
      EXPECT_EQ(std::memcmp(t.data, tensors[i].data, t.nbytes), 0) << t.name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 8 == 0 || i > 0, true);
    }
    EXPECT_EQ(f.find(t.name), &t);
  }
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.find("missing"), nullptr);

  // Saving what was read gives the same file byte for byte.
  std::vector<r1::TensorToWrite> again;
  for (const auto& t : f.tensors()) again.push_back({t.name, t.shape, t.dtype, t.data});
  r1::save_safetensors(dir + "/copy.safetensors", again, f.metadata());
  EXPECT_EQ(r1::read_file(dir + "/copy.safetensors"), bytes);
}

TEST(Safetensors, EmptyModelWithoutMetadata) {
  const std::string path = scratch_dir() + "/empty.safetensors";
  r1::save_safetensors(path, {});
  const r1::SafetensorsFile f(path);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_TRUE(f.metadata().empty());
}

TEST(Safetensors, ReadsRealStoriesFile) {
  const std::string path = r1::testing::shared_path("models/stories260K/hf/model.safetensors");
  R1_SKIP_UNLESS_SHARED(path);
  const r1::SafetensorsFile f(path);
  EXPECT_EQ(f.tensors().size(), 47u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const r1::TensorInfo* emb = f.find("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, r1::DType::F32);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(emb->nbytes, 512u * 64u * 4u);

  // The embedding was copied unchanged from the GGUF: same bytes.
  const std::string gguf_path = r1::testing::shared_path("models/stories260K/stories260K.gguf");
  if (fs::exists(gguf_path)) {
    const r1::GGUFFile g(gguf_path);
    const r1::GGUFTensor* t = g.find("token_embd.weight");
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->nbytes, emb->nbytes);
    EXPECT_EQ(std::memcmp(t->data, emb->data, emb->nbytes), 0);
  }

  // Model directory and single-file opening.
  const auto by_dir = r1::SafetensorsModel::open(fs::path(path).parent_path().string());
  EXPECT_EQ(by_dir.tensors().size(), 47u);
  EXPECT_EQ(by_dir.num_files(), 1u);
  const auto by_file = r1::SafetensorsModel::open(path);
  ASSERT_NE(by_file.find("model.norm.weight"), nullptr);
  EXPECT_EQ(by_file.find("model.norm.weight")->shape, (std::vector<int64_t>{64}));
}

TEST(Safetensors, ModelDirectoryWithSingleFile) {
  const std::string dir = scratch_dir();
  const auto v = iota_f32(4, 1.0f);
  r1::save_safetensors(dir + "/model.safetensors", {{"w", {2, 2}, r1::DType::F32, v.data()}});
  const auto m = r1::SafetensorsModel::open(dir);
  ASSERT_EQ(m.tensors().size(), 1u);
  EXPECT_EQ(m.find("w")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(m.find("nope"), nullptr);
  EXPECT_EQ(m.path(), dir);
}

TEST(Safetensors, ShardedIndexDirectory) {
  const std::string dir = scratch_dir();
  const auto v1 = iota_f32(6, 0.0f);
  const auto v2 = iota_f32(4, 10.0f);
  const auto v3 = iota_f32(2, 20.0f);
  r1::save_safetensors(
      dir + "/model-00001-of-00002.safetensors",
      {{"embed", {3, 2}, r1::DType::F32, v1.data()}, {"layer.0", {4}, r1::DType::F32, v2.data()}});
  r1::save_safetensors(dir + "/model-00002-of-00002.safetensors", {{"norm", {2}, r1::DType::F32, v3.data()}});
  r1::write_file_atomic(dir + "/model.safetensors.index.json", R"({"metadata": {"total_size": 48},
    "weight_map": {"embed": "model-00001-of-00002.safetensors", "layer.0": "model-00001-of-00002.safetensors",
                   "norm": "model-00002-of-00002.safetensors"}})");

  for (const std::string& p : {dir, dir + "/model.safetensors.index.json"}) {
    const auto m = r1::SafetensorsModel::open(p);
    EXPECT_EQ(m.num_files(), 2u);
    const auto all = m.tensors();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0]->name, "embed");
    EXPECT_EQ(all[1]->name, "layer.0");
    EXPECT_EQ(all[2]->name, "norm");
    const r1::TensorInfo* norm = m.find("norm");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->file, dir + "/model-00002-of-00002.safetensors");
    float got[2];
    r1::convert_to_f32(norm->dtype, norm->data, got, 2);
    EXPECT_EQ(got[0], 20.0f);
    EXPECT_EQ(got[1], 20.5f);
    EXPECT_EQ(m.find("layer.0")->shape, (std::vector<int64_t>{4}));
  }
}

namespace {

// A sharded directory with two shards for the index error tests.
std::string make_shards() {
  const std::string dir = scratch_dir();
  static const float v[2] = {1.0f, 2.0f};
  r1::save_safetensors(dir + "/a.safetensors", {{"x", {2}, r1::DType::F32, v}});
  r1::save_safetensors(dir + "/b.safetensors",
                       {{"y", {1}, r1::DType::F32, v}, {"x", {1}, r1::DType::F32, v}});
  r1::save_safetensors(dir + "/c.safetensors", {{"z", {1}, r1::DType::F32, v}});
  return dir;
}

}  // namespace

TEST(Safetensors, IndexNamesMissingShard) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "a.safetensors", "w": "missing.safetensors"}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "missing.safetensors", "does not exist"});
}

TEST(Safetensors, IndexNamesTensorTheShardLacks) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "a.safetensors", "q": "c.safetensors"}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "'q'", "c.safetensors", "no such tensor"});
}

TEST(Safetensors, TwoShardsHoldTheSameTensor) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); },
               {index, "tensor 'x'", "present in both", "a.safetensors", "b.safetensors"});
}

TEST(Safetensors, IndexNotJson) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "a.safetensors",)");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "not valid JSON"});
}

// An index saved as UTF-16 (a Windows editor) is named as such, not as a JSON syntax error.
TEST(Safetensors, IndexInUtf16IsNamed) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  std::string utf16 = "\xFF\xFE";
  for (const char c : std::string(R"({"weight_map": {"x": "a.safetensors"}})")) utf16 += std::string{c, '\0'};
  r1::write_file_atomic(index, utf16);
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "UTF-16", "r1 reads UTF-8"});
}

TEST(Safetensors, IndexWithoutWeightMap) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"metadata": {}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "no \"weight_map\""});
  r1::write_file_atomic(index, R"({"weight_map": []})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "\"weight_map\" is not a JSON object"});
  r1::write_file_atomic(index, R"([1])");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "not a JSON object"});
}

TEST(Safetensors, IndexEntryNotAString) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": 3}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "tensor 'x'", "not a string"});
}

TEST(Safetensors, IndexShardOutsideDirectory) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "../a.safetensors"}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "../a.safetensors", "not a file inside"});
}

TEST(Safetensors, IndexDuplicateTensorKey) {
  const std::string dir = make_shards();
  const std::string index = dir + "/model.safetensors.index.json";
  r1::write_file_atomic(index, R"({"weight_map": {"x": "a.safetensors", "x": "c.safetensors"}})");
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {index, "duplicate key 'x'"});
}

TEST(Safetensors, ModelDirectoryWithoutWeights) {
  const std::string dir = scratch_dir();
  expect_error([&] { r1::SafetensorsModel::open(dir); }, {dir, "neither model.safetensors nor"});
  expect_error([&] { r1::SafetensorsModel::open(dir + "/nothing"); }, {dir + "/nothing", "cannot open"});
}

TEST(Safetensors, FileShorterThanEightBytes) {
  const std::string path = scratch_dir() + "/model.safetensors";
  r1::write_file_atomic(path, "abc");
  expect_error([&] { r1::SafetensorsFile f(path); }, {path, "too short", "3 bytes"});
  r1::write_file_atomic(path, "");
  expect_error([&] { r1::SafetensorsFile f(path); }, {path, "too short", "0 bytes"});
}

TEST(Safetensors, HeaderLengthBeyondEndOfFile) {
  const std::string path = scratch_dir() + "/model.safetensors";
  r1::write_file_atomic(path, raw_file("{}", "", 1000));
  expect_error([&] { r1::SafetensorsFile f(path); }, {path, "header length 1000 exceeds the file size"});
  r1::write_file_atomic(path, raw_file("{}", "", ~0ull));
  expect_error([&] { r1::SafetensorsFile f(path); }, {path, "header length 18446744073709551615 exceeds"});
}

TEST(Safetensors, HeaderLengthAbsurd) {
  // A sparse file big enough to hold a 150 MB "header" costs no disk space.
  const std::string path = scratch_dir() + "/model.safetensors";
  r1::write_file_atomic(path, [](std::FILE* f) {
    const std::string head = raw_file("", "", 150'000'000);
    std::fwrite(head.data(), 1, head.size(), f);
    std::fflush(f);
    ASSERT_EQ(ftruncate(fileno(f), 200'000'000), 0);
  });
  expect_error([&] { r1::SafetensorsFile f(path); }, {path, "header length 150000000 is larger than"});
}

TEST(Safetensors, HeaderNotJson) {
  expect_bad_header(R"({"a": {"dtype": "F32",)", 0, {"header is not valid JSON"});
}

TEST(Safetensors, HeaderInvalidUtf8) {
  expect_bad_header("{\"\xff\xfe\": {}}", 0, {"header is not valid JSON"});
}

TEST(Safetensors, HeaderNotAnObject) {
  expect_bad_header("[1, 2, 3]", 0, {"header is not a JSON object"});
}

TEST(Safetensors, HeaderNestedTooDeep) {
  expect_bad_header(std::string(1000, '[') + std::string(1000, ']'), 0, {"nests deeper than"});
}

TEST(Safetensors, UnknownDtype) {
  expect_bad_header(R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", 2,
                    {"tensor 'w'", "unknown dtype 'F8_E4M3'"});
}

TEST(Safetensors, MissingDtype) {
  expect_bad_header(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8, {"tensor 'w'", "no \"dtype\""});
}

TEST(Safetensors, DtypeNotAString) {
  expect_bad_header(R"({"w": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "\"dtype\" is not a string"});
}

TEST(Safetensors, MissingShape) {
  expect_bad_header(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8, {"tensor 'w'", "no \"shape\""});
}

TEST(Safetensors, ShapeNotAnArray) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "\"shape\" is not an array"});
}

TEST(Safetensors, ShapeNonInteger) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "non-integer dimension 2.5"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "non-integer dimension \"2\""});
}

TEST(Safetensors, NegativeDimension) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2, -3], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "negative dimension -3"});
}

TEST(Safetensors, DimensionTooLarge) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "dimension 18446744073709551615", "too large"});
}

TEST(Safetensors, ShapeOverflow) {
  expect_bad_header(
      R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4611686018427387904], "data_offsets": [0, 8]}})",
      8, {"tensor 'w'", "shape [4611686018427387904, 4611686018427387904] of F32 is too large"});
  // numel fits but numel * 4 bytes does not.
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w'", "too large"});
}

TEST(Safetensors, MissingDataOffsets) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2]}})", 8, {"tensor 'w'", "no \"data_offsets\""});
}

TEST(Safetensors, MalformedDataOffsets) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", 8,
                    {"tensor 'w'", "\"data_offsets\" must be two non-negative integers, got [0]"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 8,
                    {"tensor 'w'", "\"data_offsets\" must be two non-negative integers"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": "0-8"}})", 8,
                    {"tensor 'w'", "\"data_offsets\" must be two non-negative integers"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}})", 8,
                    {"tensor 'w'", "\"data_offsets\" must be two non-negative integers"});
}

TEST(Safetensors, EntryNotAnObject) {
  expect_bad_header(R"({"w": [1, 2]})", 0, {"tensor 'w'", "entry is not a JSON object"});
}

TEST(Safetensors, DataOffsetsOutOfRange) {
  expect_bad_header(R"({"x": {"dtype": "F32", "shape": [25, 3], "data_offsets": [0, 300]}})", 200,
                    {"tensor 'x' data range [0, 300) exceeds the data section (200 bytes)"});
  expect_bad_header(R"({"x": {"dtype": "F32", "shape": [0], "data_offsets": [201, 201]}})", 200,
                    {"tensor 'x' data range [201, 201) exceeds the data section (200 bytes)"});
}

TEST(Safetensors, DataOffsetsBeginAfterEnd) {
  expect_bad_header(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [16, 8]}})", 16,
                    {"tensor 'x'", "data_offsets [16, 8] with begin > end"});
}

TEST(Safetensors, SizeDoesNotMatchShape) {
  expect_bad_header(R"({"x": {"dtype": "F32", "shape": [10, 20], "data_offsets": [0, 400]}})", 400,
                    {"tensor 'x' has 400 bytes of data", "shape [10, 20] of F32 needs 800"});
  expect_bad_header(R"({"x": {"dtype": "BF16", "shape": [], "data_offsets": [0, 4]}})", 4,
                    {"tensor 'x' has 4 bytes of data", "shape [] of BF16 needs 2"});
}

TEST(Safetensors, OverlappingTensors) {
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                    16, {"tensor 'b' data range [8, 16) overlaps tensor 'a' [0, 16)"});
  // Same start, and a small tensor nested inside an earlier big one after a gap.
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                        "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})",
                    4, {"overlaps"});
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [10], "data_offsets": [0, 10]},
                        "b": {"dtype": "U8", "shape": [1], "data_offsets": [2, 3]},
                        "c": {"dtype": "U8", "shape": [1], "data_offsets": [5, 6]}})",
                    10, {"overlaps tensor 'a'"});
}

TEST(Safetensors, ZeroSizedTensorsDoNotOverlap) {
  const std::string path = scratch_dir() + "/model.safetensors";
  r1::write_file_atomic(path, raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "e1": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
      "e2": {"dtype": "F32", "shape": [0, 5], "data_offsets": [4, 4]}})",
                                       std::string(8, '\0')));
  const r1::SafetensorsFile f(path);
  EXPECT_EQ(f.tensors().size(), 3u);
}

TEST(Safetensors, DuplicateTensorNames) {
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                        "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                    2, {"duplicate tensor name 'a'"});
}

TEST(Safetensors, MetadataValueNotAString) {
  expect_bad_header(R"({"__metadata__": {"format": "pt", "step": 100}})", 0,
                    {"\"__metadata__\" value for key 'step' is not a string"});
}

TEST(Safetensors, MetadataNotAnObject) {
  expect_bad_header(R"({"__metadata__": ["format", "pt"]})", 0, {"\"__metadata__\" is not a JSON object"});
}

TEST(Safetensors, SaveRejectsBadTensors) {
  const std::string path = scratch_dir() + "/out.safetensors";
  const float v[4] = {1, 2, 3, 4};
  expect_error(
      [&] {
        r1::save_safetensors(path, {{"a", {1}, r1::DType::F32, v}, {"a", {1}, r1::DType::F32, v}});
      },
      {path, "two tensors named 'a'"});
  expect_error(
      [&] {
        r1::save_safetensors(path, {{"a", {-1}, r1::DType::F32, v}});
      },
      {path, "negative dimension"});
  expect_error([&] { r1::save_safetensors(path, {{"a", {2}, r1::DType::F32, nullptr}}); }, {path, "no data"});
  expect_error([&] { r1::save_safetensors(path, {{"", {1}, r1::DType::F32, v}}); }, {path, "empty name"});
  expect_error(
      [&] {
        r1::save_safetensors(path, {{"__metadata__", {1}, r1::DType::F32, v}});
      },
      {path, "__metadata__"});
  expect_error([&] { r1::save_safetensors(path, {{"bad\xff", {1}, r1::DType::F32, v}}); }, {path, "UTF-8"});
  expect_error(
      [&] {
        r1::save_safetensors(path, {{"a", {1LL << 62, 8}, r1::DType::F32, v}});
      },
      {path, "too large"});
  EXPECT_FALSE(fs::exists(path));
  expect_error([&] { r1::save_safetensors(path + "/nodir/x.safetensors", {}); },
               {path + "/nodir/x.safetensors"});
}
