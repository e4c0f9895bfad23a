#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/dtype.h"
#include "io/file.h"
#include "io/gguf.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::scratch_dir;
using r1::testing::write_file;

std::string stories_path() {
  return r1::testing::shared_path("models/stories260K/stories260K.gguf");
}

// r1::testing::error_of that also checks the message is one line, as expect_error does; for
// the tests below that check one message in several steps.
template <typename F>
std::string one_line_error_of(F&& f) {
  const std::string msg = r1::testing::error_of(std::forward<F>(f));
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  return msg;
}

void expect_contains(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
}

// Writes bytes to a file and expects GGUFFile to reject it with a message naming the file
// and containing every part.
void expect_bad(const std::string& path, const std::string& bytes, std::initializer_list<std::string> parts) {
  write_file(path, bytes);
  const std::string msg = one_line_error_of([&] { r1::GGUFFile g(path); });
  expect_contains(msg, {path});
  expect_contains(msg, parts);
}

// GGUF value type ids.
enum : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 };

// Minimal GGUF writer for building test files byte by byte.
struct GGUFWriter {
  std::string buf;

  template <typename T>
  GGUFWriter& put(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  GGUFWriter& str(std::string_view s) {
    put<uint64_t>(s.size());
    buf.append(s);
    return *this;
  }
  GGUFWriter& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    buf += "GGUF";
    return put(version).put(n_tensors).put(n_kv);
  }
  GGUFWriter& key(std::string_view k, uint32_t type) { return str(k).put(type); }
  GGUFWriter& kv_u32(std::string_view k, uint32_t v) { return key(k, U32).put(v); }
  GGUFWriter& kv_str(std::string_view k, std::string_view v) { return key(k, STR).str(v); }
  GGUFWriter& tensor(std::string_view name, const std::vector<int64_t>& ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) put(d);
    return put(type).put(offset);
  }
  GGUFWriter& align(size_t a = 32) {
    while (buf.size() % a != 0) buf.push_back('\0');
    return *this;
  }
  GGUFWriter& bytes(size_t n, char c = '\0') {
    buf.append(n, c);
    return *this;
  }
};

// A small valid file: 2 KVs, two F32 tensors (ne {3, 2} at 0, ne {4} at 32). infos_end
// receives the size of everything before the alignment padding.
std::string small_file(size_t* infos_end = nullptr) {
  GGUFWriter w;
  w.header(2, 2).kv_str("general.architecture", "llama").kv_u32("llama.block_count", 1);
  w.tensor("a", {3, 2}, 0, 0).tensor("b", {4}, 0, 32);
  if (infos_end != nullptr) *infos_end = w.buf.size();
  w.align();
  for (int i = 0; i < 6; ++i) w.put(static_cast<float>(i));
  w.bytes(8);
  for (int i = 0; i < 4; ++i) w.put(10.0f + static_cast<float>(i));
  return w.buf;
}

}  // namespace

TEST(GGUF, ReadsRealStoriesFile) {
  const std::string path = stories_path();
  R1_SKIP_UNLESS_SHARED(path);
  const r1::GGUFFile g(path);
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.path(), path);
  EXPECT_EQ(g.alignment(), 32u);
  const nlohmann::json& md = g.metadata();
  ASSERT_TRUE(md.is_object());
  EXPECT_EQ(md.size(), 19u);
  EXPECT_EQ(md.at("general.architecture"), "llama");
  EXPECT_EQ(md.at("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(md.at("llama.embedding_length"), 64);
  EXPECT_EQ(md.at("llama.block_count"), 5);
  EXPECT_EQ(md.at("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(md.at("tokenizer.ggml.seperator_token_id"), 4294967295u);
  EXPECT_NEAR(md.at("llama.attention.layer_norm_rms_epsilon").get<double>(), 1e-5, 1e-10);
  const nlohmann::json& tokens = md.at("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.is_array());
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(md.at("tokenizer.ggml.scores").size(), 512u);
  EXPECT_TRUE(md.at("tokenizer.ggml.scores")[0].is_number_float());
  EXPECT_EQ(md.at("tokenizer.ggml.token_type")[0], 2);

  ASSERT_EQ(g.tensors().size(), 48u);
  EXPECT_EQ(g.tensors()[0].name, "token_embd.weight");
  const r1::GGUFTensor* emb = g.find("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(emb->ggml_type, 0u);
  EXPECT_EQ(emb->type_name, "F32");
  EXPECT_EQ(emb->nbytes, 512u * 64u * 4u);
  const r1::GGUFTensor* q = g.find("blk.0.attn_k.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{32, 64}));  // ne = {64, 32}
  EXPECT_EQ(g.find("output_norm.weight")->shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(g.find("nope"), nullptr);
  for (const auto& t : g.tensors()) {
    EXPECT_EQ((t.data - g.tensors()[0].data) % 32, 0) << t.name;
    const r1::TensorInfo info = g.tensor_info(t);
    EXPECT_EQ(info.dtype, r1::DType::F32);
    EXPECT_EQ(info.shape, t.shape);
    EXPECT_EQ(info.data, t.data);
    EXPECT_EQ(info.nbytes, static_cast<size_t>(info.numel()) * 4);
    EXPECT_EQ(info.file, path);
  }
  // output.weight is stored and equals token_embd.weight.
  const r1::GGUFTensor* out = g.find("output.weight");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(std::memcmp(out->data, emb->data, emb->nbytes), 0);
  // The data section ends exactly at the end of the file for the last tensor.
  const r1::MappedFile m(path);
  const r1::GGUFTensor& last = g.tensors().back();
  EXPECT_LE(static_cast<size_t>(last.data - g.tensors()[0].data) + last.nbytes, m.size());
}

TEST(GGUF, RealFileBadMagic) {
  R1_SKIP_UNLESS_SHARED(stories_path());
  std::string bytes = r1::read_file(stories_path());
  bytes[0] = 'X';
  expect_bad(scratch_dir() + "/x.gguf", bytes, {"not a GGUF file (bad magic)"});
}

TEST(GGUF, RealFileUnsupportedVersion) {
  R1_SKIP_UNLESS_SHARED(stories_path());
  const std::string dir = scratch_dir();
  std::string bytes = r1::read_file(stories_path());
  bytes[4] = 1;
  expect_bad(dir + "/v1.gguf", bytes, {"unsupported GGUF version 1"});
  bytes[4] = 7;
  expect_bad(dir + "/v7.gguf", bytes, {"unsupported GGUF version 7"});
  bytes[4] = 0;
  bytes[7] = 3;  // 0x03000000: a big-endian version 3
  expect_bad(dir + "/be.gguf", bytes, {"big-endian"});
}

TEST(GGUF, RealFileTruncatedThroughMetadata) {
  const std::string path = stories_path();
  R1_SKIP_UNLESS_SHARED(path);
  const std::string bytes = r1::read_file(path);
  const std::string dir = scratch_dir();
  // Every 1000 bytes through the metadata and tensor infos (which end at 14152), plus the
  // key and tensor-info boundaries of this file and the bytes around them.
  std::vector<size_t> cuts;
  for (size_t c = 0; c < 14152; c += 1000) cuts.push_back(c);
  for (size_t c :
       {4, 8, 16, 23, 24, 31, 32, 6469, 6470, 6471, 8563, 10660, 11346, 11347, 11348, 11404, 12000, 14151})
    cuts.push_back(c);
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    const std::string p = dir + "/cut" + std::to_string(cut) + ".gguf";
    write_file(p, std::string_view(bytes).substr(0, cut));
    const std::string msg = one_line_error_of([&] { r1::GGUFFile g(p); });
    expect_contains(msg, {p, cut < 4 ? "bad magic" : "truncated"});
    if (cut >= 40 && cut < 6470)
      expect_contains(msg, {"truncated metadata at key 0 ('tokenizer.ggml.tokens')"});
    if (cut >= 6480 && cut < 8563)
      expect_contains(msg, {"truncated metadata at key 1 ('tokenizer.ggml.scores')"});
    if (cut == 6470) expect_contains(msg, {"truncated metadata at key 1"});
    if (cut == 11348) expect_contains(msg, {"truncated tensor"});
  }
}

TEST(GGUF, RealFileTruncatedInData) {
  const std::string path = stories_path();
  R1_SKIP_UNLESS_SHARED(path);
  const std::string bytes = r1::read_file(path);
  const std::string dir = scratch_dir();
  expect_bad(dir + "/a.gguf", bytes.substr(0, bytes.size() - 4),
             {"tensor 'blk.4.ffn_norm.weight' data range", "exceeds the data section"});
  expect_bad(dir + "/b.gguf", bytes.substr(0, 14152),
             {"tensor 'token_embd.weight'", "data section (0 bytes)"});
  expect_bad(dir + "/c.gguf", bytes.substr(0, 200000), {"exceeds the data section"});
}

TEST(GGUF, SyntheticFileReads) {
  const std::string path = scratch_dir() + "/small.gguf";
  write_file(path, small_file());
  const r1::GGUFFile g(path);
  EXPECT_EQ(g.metadata().at("general.architecture"), "llama");
  EXPECT_EQ(g.metadata().at("llama.block_count"), 1);
  ASSERT_EQ(g.tensors().size(), 2u);
  const r1::GGUFTensor& a = g.tensors()[0];
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));  // ne {3, 2} reversed
  EXPECT_EQ(a.nbytes, 24u);
  const r1::TensorInfo ai = g.tensor_info(a);
  float v[6];
  r1::convert_to_f32(ai.dtype, ai.data, v, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(v[i], static_cast<float>(i));
  const r1::GGUFTensor* b = g.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(b->data, a.data + 32);
  float w[4];
  r1::convert_to_f32(r1::DType::F32, b->data, w, 4);
  EXPECT_EQ(w[3], 13.0f);
}

TEST(GGUF, SyntheticTruncatedAtEveryByte) {
  const std::string dir = scratch_dir();
  size_t infos_end = 0;
  const std::string full = small_file(&infos_end);
  for (size_t cut = 0; cut < full.size(); ++cut) {
    SCOPED_TRACE(cut);
    const std::string p = dir + "/cut.gguf";
    write_file(p, std::string_view(full).substr(0, cut));
    const std::string msg = one_line_error_of([&] { r1::GGUFFile g(p); });
    expect_contains(msg, {p});
    if (cut < 4)
      expect_contains(msg, {"bad magic"});
    else if (cut < infos_end)
      expect_contains(msg, {"truncated"});
    else
      expect_contains(msg, {"exceeds the data section"});
  }
}

TEST(GGUF, AllValueTypes) {
  GGUFWriter w;
  w.header(0, 16, 2);  // version 2 uses the same 64-bit layout
  w.key("u8", U8).put<uint8_t>(200);
  w.key("i8", I8).put<int8_t>(-100);
  w.key("u16", U16).put<uint16_t>(60000);
  w.key("i16", I16).put<int16_t>(-30000);
  w.key("u32", U32).put<uint32_t>(4000000000u);
  w.key("i32", I32).put<int32_t>(-2000000000);
  w.key("f32", F32).put<float>(0.25f);
  w.key("bool_t", BOOL).put<uint8_t>(1);
  w.key("bool_f", BOOL).put<uint8_t>(0);
  w.key("str", STR).str("h\xc3\xa9llo");
  w.key("u64", U64).put<uint64_t>(18446744073709551615ull);
  w.key("i64", I64).put<int64_t>(-9000000000000000000ll);
  w.key("f64", F64).put<double>(-1.5e300);
  w.key("strs", ARR).put<uint32_t>(STR).put<uint64_t>(3).str("a").str("").str("ccc");
  w.key("nested", ARR).put<uint32_t>(ARR).put<uint64_t>(2);
  w.put<uint32_t>(I32).put<uint64_t>(2).put<int32_t>(1).put<int32_t>(-2);
  w.put<uint32_t>(F32).put<uint64_t>(0);
  w.key("empty", ARR).put<uint32_t>(U8).put<uint64_t>(0);
  const std::string path = scratch_dir() + "/types.gguf";
  write_file(path, w.buf);  // no tensors: the file may end right after the metadata
  const r1::GGUFFile g(path);
  EXPECT_EQ(g.version(), 2u);
  const nlohmann::json& m = g.metadata();
  EXPECT_EQ(m.size(), 16u);
  EXPECT_EQ(m.at("u8"), 200);
  EXPECT_EQ(m.at("i8"), -100);
  EXPECT_EQ(m.at("u16"), 60000);
  EXPECT_EQ(m.at("i16"), -30000);
  EXPECT_EQ(m.at("u32"), 4000000000u);
  EXPECT_EQ(m.at("i32"), -2000000000);
  EXPECT_EQ(m.at("f32"), 0.25);
  EXPECT_EQ(m.at("bool_t"), true);
  EXPECT_EQ(m.at("bool_f"), false);
  EXPECT_EQ(m.at("str"), "h\xc3\xa9llo");
  EXPECT_EQ(m.at("u64"), 18446744073709551615ull);
  EXPECT_EQ(m.at("i64"), -9000000000000000000ll);
  EXPECT_EQ(m.at("f64"), -1.5e300);
  EXPECT_EQ(m.at("strs"), (nlohmann::json{"a", "", "ccc"}));
  EXPECT_EQ(m.at("nested"), nlohmann::json::parse("[[1, -2], []]"));
  EXPECT_EQ(m.at("empty"), nlohmann::json::array());
  EXPECT_TRUE(g.tensors().empty());
}

TEST(GGUF, F16AndBF16Tensors) {
  GGUFWriter w;
  w.header(2, 0).tensor("h", {4}, 1, 0).tensor("b", {2, 2}, 30, 32).align();
  for (float f : {1.0f, -2.0f, 0.5f, 65504.0f}) w.put(r1::f32_to_f16(f));
  w.bytes(24);
  for (float f : {1.0f, -2.0f, 0.5f, 3.0f}) w.put(r1::f32_to_bf16(f));
  const std::string path = scratch_dir() + "/half.gguf";
  write_file(path, w.buf);
  const r1::GGUFFile g(path);
  const r1::TensorInfo h = g.tensor_info(*g.find("h"));
  EXPECT_EQ(h.dtype, r1::DType::F16);
  EXPECT_EQ(h.nbytes, 8u);
  float v[4];
  r1::convert_to_f32(h.dtype, h.data, v, 4);
  EXPECT_EQ(v[3], 65504.0f);
  const r1::TensorInfo b = g.tensor_info(*g.find("b"));
  EXPECT_EQ(b.dtype, r1::DType::BF16);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.find("b")->type_name, "BF16");
  r1::convert_to_f32(b.dtype, b.data, v, 4);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[3], 3.0f);
}

TEST(GGUF, QuantisedSizesAreValidatedButDataRefused) {
  struct Q {
    uint32_t type;
    std::string name;
    uint64_t block_elems, block_bytes;
  };
  const std::vector<Q> types = {
      {2, "Q4_0", 32, 18},      {3, "Q4_1", 32, 20},    {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
      {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},    {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},
      {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},
      {16, "IQ2_XXS", 256, 66}, {20, "IQ4_NL", 32, 18}, {23, "IQ4_XS", 256, 136}, {34, "TQ1_0", 256, 54},
  };
  const std::string dir = scratch_dir();
  for (const Q& q : types) {
    SCOPED_TRACE(q.name);
    // ne {2 blocks, 3 rows}: exactly 6 blocks of data.
    const uint64_t nbytes = 2 * q.block_bytes * 3;
    GGUFWriter w;
    w.header(1, 0)
        .tensor("blk.0.attn_q.weight", {static_cast<int64_t>(2 * q.block_elems), 3}, q.type, 0)
        .align();
    w.bytes(nbytes, '\x55');
    const std::string path = dir + "/" + q.name + ".gguf";
    write_file(path, w.buf);
    const r1::GGUFFile g(path);
    const r1::GGUFTensor& t = g.tensors()[0];
    EXPECT_EQ(t.nbytes, nbytes);
    EXPECT_EQ(t.type_name, q.name);
    EXPECT_EQ(t.shape, (std::vector<int64_t>{3, static_cast<int64_t>(2 * q.block_elems)}));
    const std::string msg = one_line_error_of([&] { (void)g.tensor_info(t); });
    expect_contains(msg, {path + ": tensor 'blk.0.attn_q.weight' has quantised type " + q.name +
                          "; only F32, F16 and BF16 are supported"});
    // One byte less of data is out of range.
    w.buf.pop_back();
    expect_bad(dir + "/short_" + q.name + ".gguf", w.buf, {"exceeds the data section"});
  }
}

TEST(GGUF, NonFloatTypeRefused) {
  GGUFWriter w;
  w.header(1, 0).tensor("ids", {4}, 26, 0).align().bytes(16);
  const std::string path = scratch_dir() + "/i32.gguf";
  write_file(path, w.buf);
  const r1::GGUFFile g(path);
  EXPECT_EQ(g.tensors()[0].type_name, "I32");
  expect_contains(one_line_error_of([&] { (void)g.tensor_info(g.tensors()[0]); }),
                  {path, "tensor 'ids' has unsupported type I32; only F32, F16 and BF16 are supported"});
}

TEST(GGUF, CustomAlignment) {
  GGUFWriter w;
  w.header(2, 1).kv_u32("general.alignment", 64).tensor("a", {1}, 0, 0).tensor("b", {1}, 0, 64).align(64);
  w.put(1.0f).bytes(60).put(2.0f);
  const std::string path = scratch_dir() + "/align.gguf";
  write_file(path, w.buf);
  const r1::GGUFFile g(path);
  EXPECT_EQ(g.alignment(), 64u);
  const r1::MappedFile m(path);
  EXPECT_EQ((g.find("a")->data - m.data()) % 64, 0);
  float b;
  std::memcpy(&b, g.find("b")->data, 4);
  EXPECT_EQ(b, 2.0f);
}

TEST(GGUF, BadAlignment) {
  const std::string dir = scratch_dir();
  GGUFWriter w;
  w.header(0, 1).kv_u32("general.alignment", 24);
  expect_bad(dir + "/a.gguf", w.buf, {"general.alignment 24 is not a power of two"});
  GGUFWriter z;
  z.header(0, 1).kv_u32("general.alignment", 0);
  expect_bad(dir + "/b.gguf", z.buf, {"general.alignment 0"});
  GGUFWriter s;
  s.header(0, 1).kv_str("general.alignment", "32");
  expect_bad(dir + "/c.gguf", s.buf, {"general.alignment \"32\""});
}

TEST(GGUF, OffsetNotAligned) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {1}, 0, 4).align().bytes(64);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'a' data offset 4 is not a multiple of the alignment 32"});
}

TEST(GGUF, TensorDataOutOfRange) {
  GGUFWriter w;
  w.header(1, 0).tensor("blk.0.ffn_up.weight", {8, 4}, 0, 64).align().bytes(128);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'blk.0.ffn_up.weight' data range [64, 192) exceeds the data section (128 bytes)"});
}

TEST(GGUF, TensorBiggerThanFile) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {1 << 20, 1 << 20}, 0, 0).align().bytes(64);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'a' data range [0, 4398046511104) exceeds the data section (64 bytes)"});
}

TEST(GGUF, TensorDataEndOverflows) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {1ll << 60}, 24, ~0ull << 5).align().bytes(64);
  expect_bad(
      scratch_dir() + "/x.gguf", w.buf,
      {"tensor 'a' data (offset 18446744073709551584, 1152921504606846976 bytes) exceeds the data section"});
}

TEST(GGUF, TensorShapeOverflow) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {1ll << 40, 1ll << 40, 1ll << 40}, 0, 0).align();
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'a' shape [1099511627776, 1099511627776, 1099511627776] is too large"});
}

TEST(GGUF, DuplicateTensorNames) {
  GGUFWriter w;
  w.header(2, 0).tensor("a", {1}, 0, 0).tensor("a", {1}, 0, 32).align().bytes(64);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"duplicate tensor name 'a'"});
}

TEST(GGUF, OverlappingTensors) {
  GGUFWriter w;
  w.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).align().bytes(64);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'b' data range [32, 48) overlaps tensor 'a' [0, 64)"});
}

TEST(GGUF, TooManyDimensions) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {1, 1, 1, 1, 1}, 0, 0).align().bytes(32);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"tensor 'a' has 5 dimensions (at most 4 are supported)"});
}

TEST(GGUF, NegativeDimension) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {4, -2}, 0, 0).align().bytes(32);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"tensor 'a' has negative dimension -2 (ne[1])"});
}

TEST(GGUF, UnknownGGMLType) {
  const std::string dir = scratch_dir();
  GGUFWriter w;
  w.header(1, 0).tensor("a", {32}, 99, 0).align().bytes(256);
  expect_bad(dir + "/x.gguf", w.buf, {"tensor 'a' has unknown ggml type 99"});
  GGUFWriter r;
  r.header(1, 0).tensor("a", {32}, 4, 0).align().bytes(256);
  expect_bad(dir + "/y.gguf", r.buf, {"tensor 'a' has ggml type 4 (Q4_2), which has been removed"});
}

TEST(GGUF, RowNotAMultipleOfTheBlockSize) {
  GGUFWriter w;
  w.header(1, 0).tensor("a", {33, 2}, 2, 0).align().bytes(256);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"tensor 'a' row length 33 is not a multiple of the Q4_0 block size 32"});
}

TEST(GGUF, AbsurdTensorCount) {
  GGUFWriter w;
  w.header(1ull << 40, 0).bytes(100);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"tensor count 1099511627776 cannot fit"});
}

TEST(GGUF, AbsurdKeyCount) {
  GGUFWriter w;
  w.header(0, ~0ull).bytes(100);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"metadata key count 18446744073709551615 cannot fit"});
}

TEST(GGUF, AbsurdStringLength) {
  const std::string dir = scratch_dir();
  GGUFWriter k;
  k.header(0, 1).put<uint64_t>(1ull << 50).bytes(100);
  expect_bad(dir + "/key.gguf", k.buf,
             {"truncated metadata at key 0: string length 1125899906842624 exceeds"});
  GGUFWriter v;
  v.header(0, 1).key("general.name", STR).put<uint64_t>(~0ull).bytes(100);
  expect_bad(dir + "/val.gguf", v.buf,
             {"truncated metadata at key 0 ('general.name'): string length 18446744073709551615 exceeds"});
  GGUFWriter t;
  t.header(1, 0).put<uint64_t>(1000).bytes(100);
  expect_bad(dir + "/tensor.gguf", t.buf, {"truncated tensor info 0: string length 1000 exceeds"});
}

TEST(GGUF, AbsurdArrayCount) {
  GGUFWriter w;
  w.header(0, 1).key("tokenizer.ggml.tokens", ARR).put<uint32_t>(STR).put<uint64_t>(1ull << 60).bytes(100);
  expect_bad(scratch_dir() + "/x.gguf", w.buf,
             {"truncated metadata at key 0 ('tokenizer.ggml.tokens'): array of 1152921504606846976 elements "
              "cannot fit"});
}

TEST(GGUF, UnknownValueType) {
  const std::string dir = scratch_dir();
  GGUFWriter w;
  w.header(0, 2).kv_u32("ok", 1).key("weird", 13).put<uint32_t>(0);
  expect_bad(dir + "/x.gguf", w.buf, {"metadata at key 1 ('weird') has unknown value type 13"});
  GGUFWriter a;
  a.header(0, 1).key("arr", ARR).put<uint32_t>(77).put<uint64_t>(1).put<uint32_t>(0);
  expect_bad(dir + "/y.gguf", a.buf, {"metadata at key 0 ('arr') has an array of unknown value type 77"});
}

TEST(GGUF, ArraysNestedTooDeep) {
  GGUFWriter w;
  w.header(0, 1).key("deep", ARR);
  for (int i = 0; i < 1000; ++i) w.put<uint32_t>(ARR).put<uint64_t>(1);
  w.put<uint32_t>(U8).put<uint64_t>(0);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"metadata at key 0 ('deep') has arrays nested deeper than"});
}

TEST(GGUF, DuplicateMetadataKey) {
  GGUFWriter w;
  w.header(0, 2).kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"duplicate metadata key 'llama.block_count' (key 1)"});
}

TEST(GGUF, NamesWithControlCharactersStayOnOneLine) {
  GGUFWriter w;
  w.header(2, 0).tensor("a\nb", {1}, 0, 0).tensor("a\nb", {1}, 0, 32).align().bytes(64);
  expect_bad(scratch_dir() + "/x.gguf", w.buf, {"duplicate tensor name 'a\\x0ab'"});
}

TEST(GGUF, NotAGGUFFile) {
  const std::string dir = scratch_dir();
  expect_bad(dir + "/empty.gguf", "", {"not a GGUF file (bad magic)"});
  expect_bad(dir + "/text.gguf", "{\"weights\": []}", {"not a GGUF file (bad magic)"});
  const std::string missing = dir + "/missing.gguf";
  expect_contains(one_line_error_of([&] { r1::GGUFFile g(missing); }),
                  {missing, "cannot open: No such file or directory"});
}
