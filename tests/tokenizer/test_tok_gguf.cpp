// GGUF vocabularies (tokenizer.ggml.*): "gpt2" with the Qwen2 and Llama-3 pre-tokenizers and
// "llama" (SentencePiece by scores) reproduce llama.cpp's test vectors when the GGUF holds the
// same vocabulary as the reference tokenizer.json; save() writes an equivalent tokenizer.json;
// truncated or inconsistent vocabularies are one-line errors naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "io/json.h"
#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

using json = nlohmann::json;
using r1::testing::expect_error;
using r1::testing::scratch_dir;

enum : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 };

// A GGUF file with metadata only (no tensors).
struct GgufBuilder {
  std::string kvs;
  uint64_t n = 0;

  template <typename T>
  void put(T v) {
    kvs.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s) {
    put<uint64_t>(s.size());
    kvs.append(s);
  }
  void key(std::string_view k, uint32_t type) {
    str(k);
    put(type);
    ++n;
  }
  GgufBuilder& s(std::string_view k, std::string_view v) {
    key(k, STR);
    str(v);
    return *this;
  }
  GgufBuilder& u32(std::string_view k, uint32_t v) {
    key(k, U32);
    put(v);
    return *this;
  }
  GgufBuilder& b(std::string_view k, bool v) {
    key(k, BOOL);
    put<uint8_t>(v ? 1 : 0);
    return *this;
  }
  GgufBuilder& strs(std::string_view k, const std::vector<std::string>& v) {
    key(k, ARR);
    put(STR);
    put<uint64_t>(v.size());
    for (const auto& x : v) str(x);
    return *this;
  }
  GgufBuilder& i32s(std::string_view k, const std::vector<int32_t>& v) {
    key(k, ARR);
    put(I32);
    put<uint64_t>(v.size());
    for (const int32_t x : v) put(x);
    return *this;
  }
  GgufBuilder& f32s(std::string_view k, const std::vector<float>& v) {
    key(k, ARR);
    put(F32);
    put<uint64_t>(v.size());
    for (const float x : v) put(x);
    return *this;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    const auto app = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    app(uint32_t{3});
    app(uint64_t{0});
    app(n);
    return out + kvs;
  }
  std::string write(const std::string& path) const { return r1::testing::write_file(path, bytes()); }
};

// The GGUF "gpt2" vocabulary equivalent to a byte-level tokenizer.json: tokens by id, token
// types (special added tokens CONTROL, other added tokens USER_DEFINED), merges as "a b".
GgufBuilder gpt2_gguf_from(const std::string& tokenizer_json, const std::string& pre) {
  const r1::TokenizerSpec spec =
      r1::spec_from_tokenizer_json(r1::read_json_file(tokenizer_json), tokenizer_json);
  std::vector<std::string> tokens = spec.vocab;
  std::vector<int32_t> types(tokens.size(), 1);
  for (const r1::AddedToken& a : spec.added) {
    if (static_cast<size_t>(a.id) >= tokens.size()) {
      tokens.resize(static_cast<size_t>(a.id) + 1, "");
      types.resize(tokens.size(), 5);
    }
    tokens[static_cast<size_t>(a.id)] = a.content;
    types[static_cast<size_t>(a.id)] = a.special ? 3 : 4;
  }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i].empty()) tokens[i] = "[PAD" + std::to_string(i) + "]";
  std::vector<std::string> merges;
  merges.reserve(spec.merges.size());
  for (const auto& [a, b] : spec.merges) merges.push_back(a + " " + b);
  GgufBuilder g;
  g.s("general.architecture", "llama").s("tokenizer.ggml.model", "gpt2").s("tokenizer.ggml.pre", pre);
  g.strs("tokenizer.ggml.tokens", tokens)
      .i32s("tokenizer.ggml.token_type", types)
      .strs("tokenizer.ggml.merges", merges);
  return g;
}

void check_vectors(const r1::Tokenizer& tok, const std::string& name) {
  const auto vectors = r1::testing::load_vectors(name);
  ASSERT_EQ(vectors.size(), 46u);
  for (const auto& v : vectors) EXPECT_EQ(tok.encode(v.text, false), v.ids) << "input: '" << v.text << "'";
}

}  // namespace

TEST(TokGguf, Qwen2Vectors) {
  const std::string tj = r1::testing::qwen3_tokenizer_json();
  R1_SKIP_UNLESS_SHARED(tj);
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-qwen2.gguf");
  const std::string dir = scratch_dir();
  GgufBuilder g = gpt2_gguf_from(tj, "qwen2");
  g.u32("tokenizer.ggml.eos_token_id", 151645).u32("tokenizer.ggml.padding_token_id", 151643);
  const std::string path = g.write(dir + "/qwen.gguf");
  const auto t = r1::load_tokenizer(path);
  EXPECT_EQ(t->vocab_size(), 151669);
  EXPECT_EQ(t->eos_id(), 151645);
  EXPECT_EQ(t->bos_id(), -1);
  check_vectors(*t, "ggml-vocab-qwen2.gguf");
  // Same tokenizer as the tokenizer.json, specials included.
  const auto& ref = r1::testing::cached_tokenizer(tj);
  const std::string chat = "<|im_start|>user\n<think>x</think> <tool_call>\n<|im_end|>";
  EXPECT_EQ(t->encode(chat), ref.encode(chat));
  EXPECT_EQ(t->encode(chat, false), ref.encode(chat, false));

  // save() writes a tokenizer.json that loads back to the same tokenizer.
  const std::string saved = dir + "/saved";
  std::filesystem::create_directories(saved);
  t->save(saved);
  const auto u = r1::load_tokenizer(saved);
  EXPECT_EQ(u->eos_id(), 151645);
  check_vectors(*u, "ggml-vocab-qwen2.gguf");
  EXPECT_EQ(u->encode(chat), ref.encode(chat));
}

TEST(TokGguf, LlamaBpeVectors) {
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-llama-bpe.gguf");
  std::string why;
  const std::string dir3 = r1::testing::npm_tokenizer_dir("llama3", &why);
  if (dir3.empty()) GTEST_SKIP() << why;
  const std::string dir = scratch_dir();
  GgufBuilder g = gpt2_gguf_from(dir3 + "/tokenizer.json", "llama-bpe");
  g.u32("tokenizer.ggml.bos_token_id", 128000).u32("tokenizer.ggml.eos_token_id", 128001);
  g.b("tokenizer.ggml.add_bos_token", true);
  const auto t = r1::load_tokenizer(g.write(dir + "/llama3.gguf"));
  check_vectors(*t, "ggml-vocab-llama-bpe.gguf");
  EXPECT_EQ(t->encode("Hi", true, true), (std::vector<int32_t>{128000, 13347}));
}

TEST(TokGguf, LlamaSpmVectorsFromScores) {
  // The Llama-2 vocabulary as a SentencePiece GGUF: each piece scored by when the reference
  // merges first make it (earlier = higher), which is how SentencePiece orders its pieces.
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-llama-spm.gguf");
  std::string why;
  const std::string dir2 = r1::testing::npm_tokenizer_dir("llama2", &why);
  if (dir2.empty()) GTEST_SKIP() << why;
  const std::string tj = r1::testing::llama2_tokenizer_json(dir2);
  const r1::TokenizerSpec spec = r1::spec_from_tokenizer_json(r1::read_json_file(tj), tj);
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < spec.merges.size(); ++i)
    first.emplace(spec.merges[i].first + spec.merges[i].second, i);
  std::vector<float> scores(spec.vocab.size(), 0.0f);
  std::vector<int32_t> types(spec.vocab.size(), 1);
  for (size_t i = 0; i < spec.vocab.size(); ++i) {
    if (const auto it = first.find(spec.vocab[i]); it != first.end())
      scores[i] = -static_cast<float>(it->second);
    if (spec.vocab[i].size() == 6 && spec.vocab[i].rfind("<0x", 0) == 0) types[i] = 6;
  }
  types[0] = 2;
  types[1] = types[2] = 3;
  GgufBuilder g;
  g.s("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", spec.vocab);
  g.f32s("tokenizer.ggml.scores", scores).i32s("tokenizer.ggml.token_type", types);
  g.u32("tokenizer.ggml.bos_token_id", 1)
      .u32("tokenizer.ggml.eos_token_id", 2)
      .u32("tokenizer.ggml.unknown_token_id", 0);
  const std::string dir = scratch_dir();
  const auto t = r1::load_tokenizer(g.write(dir + "/llama2.gguf"));
  check_vectors(*t, "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(t->encode("Hello", true, true), (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(t->decode({1, 15043, 3186}), "<s> Hello world");
}

TEST(TokGguf, StoriesSaveRoundTrip) {
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  const auto t = r1::load_tokenizer(r1::testing::stories_gguf());
  const std::string dir = scratch_dir();
  t->save(dir);
  const auto u = r1::load_tokenizer(dir);
  EXPECT_EQ(u->bos_id(), 1);
  EXPECT_EQ(u->eos_id(), 2);
  for (const std::string s : {"Once upon a time, there was a big dog.", " Lily  likes\ncats 123 ü"}) {
    EXPECT_EQ(u->encode(s, true, true), t->encode(s, true, true)) << s;
    EXPECT_EQ(u->decode(u->encode(s)), s);
  }
  // The derived merges are the ones the shipped hf/tokenizer.json lists (as a set).
  const json mine = r1::read_json_file(dir + "/tokenizer.json")["model"]["merges"];
  const json theirs = r1::read_json_file(r1::testing::stories_hf() + "/tokenizer.json")["model"]["merges"];
  std::set<std::string> a, b;
  for (const auto& m : mine) a.insert(m[0].get<std::string>() + " " + m[1].get<std::string>());
  for (const auto& m : theirs) b.insert(m.get<std::string>());
  EXPECT_EQ(a, b);
}

TEST(TokGguf, TruncatedOrInconsistentVocabulary) {
  const std::string dir = scratch_dir();
  const std::vector<std::string> toks = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
  const auto base = [&] {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "llama").strs("tokenizer.ggml.tokens", toks);
    return g;
  };
  const auto check = [&](const GgufBuilder& g, const std::string& msg) {
    const std::string p = g.write(dir + "/v.gguf");
    EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }), p + ": " + msg);
  };
  {
    auto g = base();
    g.f32s("tokenizer.ggml.scores", {0, 0, 0});
    check(g, "tokenizer.ggml.scores has 3 entries but tokenizer.ggml.tokens has 6");
  }
  {
    auto g = base();
    g.i32s("tokenizer.ggml.token_type", {2, 3, 3, 1});
    check(g, "tokenizer.ggml.token_type has 4 entries but tokenizer.ggml.tokens has 6");
  }
  {
    auto g = base();
    g.u32("tokenizer.ggml.bos_token_id", 6);
    check(g, "tokenizer.ggml.bos_token_id 6 is outside the vocabulary (6 tokens)");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "bert").strs("tokenizer.ggml.tokens", toks);
    check(g, "tokenizer.ggml.model 'bert' is not supported (llama, gpt2)");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "llama");
    check(g, "tokenizer.ggml.tokens is missing");
  }
  {
    GgufBuilder g;
    g.s("general.architecture", "llama");
    check(g, "tokenizer.ggml.model is missing: the file carries no tokenizer");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "gpt2").strs("tokenizer.ggml.tokens", toks);
    check(g, "tokenizer.ggml.merges is missing");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "gpt2")
        .strs("tokenizer.ggml.tokens", toks)
        .strs("tokenizer.ggml.merges", {"a b"});
    g.s("tokenizer.ggml.pre", "deepseek-llm");
    check(g, "tokenizer.ggml.pre 'deepseek-llm' is not supported (qwen2, llama-bpe, gpt2, default)");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "gpt2")
        .strs("tokenizer.ggml.tokens", toks)
        .strs("tokenizer.ggml.merges", {"a b", "b c"});
    check(g, "tokenizer.ggml.merges[1] 'b c': token 'c' is not in the vocabulary");
  }
  {
    GgufBuilder g;
    g.s("tokenizer.ggml.model", "gpt2")
        .strs("tokenizer.ggml.tokens", toks)
        .strs("tokenizer.ggml.merges", {"ab"});
    check(g, "tokenizer.ggml.merges[0] 'ab' is not two tokens separated by one space");
  }
  // A GGUF file cut inside its token list: the reader's own error, naming the file.
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  const std::string whole = r1::testing::slurp(r1::testing::stories_gguf());
  for (const size_t cut : {size_t{200}, size_t{2000}, size_t{5000}}) {
    const std::string p = r1::testing::write_file(dir + "/cut.gguf", whole.substr(0, cut));
    expect_error([&] { r1::load_tokenizer(p); }, {p, "truncated"});
  }
}
