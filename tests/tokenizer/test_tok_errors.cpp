// Bad tokenizer files: a one-line r1::Error naming the file and the field, never a crash or a
// tokenizer that silently differs from the reference. Also through `r1 tokenize`.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/byte_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

using json = nlohmann::json;
using r1::testing::expect_error;
using r1::testing::scratch_dir;
using r1::testing::write_file;

// A small valid byte-level BPE tokenizer.json: the 256 byte characters, merges making "he",
// "ll", "hell", "hello", one special token.
json tiny_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[r1::byte_level_char(static_cast<uint8_t>(b))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  return {{"version", "1.0"},
          {"added_tokens",
           {{{"id", 260},
             {"content", "<|end|>"},
             {"special", true},
             {"normalized", false},
             {"lstrip", false},
             {"rstrip", false},
             {"single_word", false}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "l l", "he ll", {"hell", "o"}}}}}};
}

std::string write_json(const std::string& dir, const json& j, const std::string& name = "tokenizer.json") {
  return write_file(dir + "/" + name, j.dump());
}

}  // namespace

TEST(TokFiles, TinyTokenizerWorks) {
  const std::string dir = scratch_dir();
  const auto t = r1::load_tokenizer(write_json(dir, tiny_tokenizer()));
  EXPECT_EQ(t->encode("hello hell<|end|>"),
            (std::vector<int32_t>{259, static_cast<int32_t>(' '), 258, 260}));  // " " is its byte character
  EXPECT_EQ(t->decode(t->encode("hello hell<|end|>")), "hello hell<|end|>");
  EXPECT_EQ(t->vocab_size(), 261);
  // The directory form and the file form are the same tokenizer.
  EXPECT_EQ(r1::load_tokenizer(dir)->encode("hello"), (std::vector<int32_t>{259}));
}

TEST(TokFiles, MalformedJson) {
  const std::string dir = scratch_dir();
  const std::string p = write_file(dir + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
  expect_error([&] { r1::load_tokenizer(p); }, {p, "malformed JSON"});
  expect_error([&] { r1::load_tokenizer(dir); }, {p, "malformed JSON"});
  const std::string q = write_file(dir + "/list.json", "[1, 2]");
  expect_error([&] { r1::load_tokenizer(q); }, {q, "must be a JSON object"});
}

TEST(TokFiles, UnsupportedTypesNameTheField) {
  const std::string dir = scratch_dir();
  const auto check = [&](const std::function<void(json&)>& edit, const std::string& msg) {
    json j = tiny_tokenizer();
    edit(j);
    const std::string p = write_json(dir, j);
    EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }), p + ": " + msg);
  };
  check([](json& j) { j["model"]["type"] = "Unigram"; }, "model.type 'Unigram' is not supported (only BPE)");
  check([](json& j) { j["model"]["type"] = "WordPiece"; },
        "model.type 'WordPiece' is not supported (only BPE)");
  check(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Whitespace"}};
      },
      "pre_tokenizer.type 'Whitespace' is not supported");
  check(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Sequence"},
                              {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Digits"}}}}};
      },
      "pre_tokenizer.pretokenizers[1].type 'Digits' is not supported");
  check(
      [](json& j) {
        j["normalizer"] = {{"type", "BertNormalizer"}};
      },
      "normalizer.type 'BertNormalizer' is not supported");
  check(
      [](json& j) {
        j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Precompiled"}}}}};
      },
      "normalizer.normalizers[0].type 'Precompiled' is not supported");
  check([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder.type 'WordPiece' is not supported");
  check(
      [](json& j) {
        j["post_processor"] = {{"type", "Mystery"}};
      },
      "post_processor.type 'Mystery' is not supported");
  check([](json& j) { j["pre_tokenizer"] = {{"add_prefix_space", true}}; }, "pre_tokenizer.type is missing");
  check(
      [](json& j) {
        j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Odd"}};
      },
      "pre_tokenizer.behavior 'Odd' is not supported");
  check([](json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout BPE dropout is not supported");
  check([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; },
        "model.continuing_subword_prefix '##' is not supported");
  check([](json& j) { j["model"]["byte_fallback"] = "yes"; },
        "model.byte_fallback must be true or false, not string");
  check([](json& j) { j.erase("model"); }, "model is missing");
  check([](json& j) { j["model"]["vocab"]["x"] = -3; },
        "model.vocab 'x' has id -3, not a token id in [0, 16777216)");
  check([](json& j) { j["model"]["vocab"]["x"] = 5; },
        "model.vocab id 5 is given to both 'x' and '\xC4\x85'");
  check([](json& j) { j["model"]["unk_token"] = "<unk>"; },
        "model.unk_token '<unk>' is not in the vocabulary");
}

TEST(TokFiles, MergeNamingUnknownToken) {
  const std::string dir = scratch_dir();
  json j = tiny_tokenizer();
  j["model"]["merges"].push_back("hello zz");
  const std::string p = write_json(dir, j);
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }),
            p + ": model.merges[4] 'hello zz': token 'zz' is not in the vocabulary");
  j = tiny_tokenizer();
  j["model"]["merges"].push_back({"l", "o"});  // "lo" is not in the vocabulary
  write_json(dir, j);
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }),
            p + ": model.merges[4] 'l o': token 'lo' is not in the vocabulary");
  j = tiny_tokenizer();
  j["model"]["merges"].push_back("a b c");
  write_json(dir, j);
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }),
            p + ": model.merges[4] 'a b c' is not two tokens separated by one space");
  j = tiny_tokenizer();
  j["model"]["merges"].push_back(7);
  write_json(dir, j);
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(p); }),
            p + ": model.merges[4] must be \"a b\" or [\"a\", \"b\"]");
}

TEST(TokFiles, BadRegex) {
  const std::string dir = scratch_dir();
  json j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  const std::string p = write_json(dir, j);
  expect_error([&] { r1::load_tokenizer(p); }, {p, "pre_tokenizer.pattern.Regex", "does not compile"});
}

TEST(TokFiles, VocabMergesDirectory) {
  const std::string dir = scratch_dir();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[r1::byte_level_char(static_cast<uint8_t>(b))] = b;
  vocab["he"] = 256;
  write_file(dir + "/vocab.json", vocab.dump());
  write_file(dir + "/merges.txt", "#version: 0.2\nh e\n");
  const auto t = r1::load_tokenizer(dir);  // no tokenizer_config.json: GPT-2 style
  EXPECT_EQ(t->encode("he"), (std::vector<int32_t>{256}));
  write_file(dir + "/merges.txt", "#version: 0.2\nh e\nhe\n");
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(dir); }),
            dir + "/merges.txt: line 3: 'he' is not two tokens separated by one space");
  write_file(dir + "/merges.txt", "#version: 0.2\nh e\nhe q\n");
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(dir); }),
            dir + "/merges.txt: merges[1] 'he q': token 'heq' is not in the vocabulary");
  write_file(dir + "/merges.txt", "h e\n");
  write_file(dir + "/tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(dir); }),
            dir +
                "/tokenizer_config.json: tokenizer_class 'BertTokenizer' is not supported with vocab.json + "
                "merges.txt (Qwen2Tokenizer, GPT2Tokenizer)");
  write_file(dir + "/tokenizer_config.json",
             R"({"tokenizer_class": "GPT2Tokenizer", "eos_token": "<none>"})");
  EXPECT_EQ(r1::testing::error_of([&] { r1::load_tokenizer(dir); }),
            dir + "/tokenizer_config.json: eos_token '<none>' is not a token of this tokenizer");
}

TEST(TokFiles, MissingThings) {
  const std::string dir = scratch_dir();
  expect_error([&] { r1::load_tokenizer(dir); }, {dir, "no tokenizer in the model directory"});
  expect_error([&] { r1::load_tokenizer(dir + "/nope.json"); }, {dir + "/nope.json", "no such file"});
  write_file(dir + "/tokenizer.model", "x");
  expect_error([&] { r1::load_tokenizer(dir); }, {dir, "tokenizer.model"});
}

TEST(TokFiles, SaveCopiesSourceFiles) {
  const std::string dir = scratch_dir();
  const std::string src = dir + "/src", dst = dir + "/dst";
  std::filesystem::create_directories(src);
  std::filesystem::create_directories(dst);
  write_json(src, tiny_tokenizer());
  write_file(src + "/tokenizer_config.json", R"({"eos_token": "<|end|>"})");
  const auto t = r1::load_tokenizer(src);
  EXPECT_EQ(t->eos_id(), 260);
  t->save(dst);
  t->save(src);  // saving onto itself is a no-op
  const auto u = r1::load_tokenizer(dst);
  EXPECT_EQ(u->eos_id(), 260);
  EXPECT_EQ(u->encode("hello<|end|>"), t->encode("hello<|end|>"));
  EXPECT_EQ(r1::testing::slurp(dst + "/tokenizer.json"), r1::testing::slurp(src + "/tokenizer.json"));
}

// ---------------------------------------------------------------- through r1 tokenize

namespace {

struct RunResult {
  int status;
  std::string out, err;
};

RunResult run_r1(const std::string& args, const std::string& stdin_text) {
  // One directory per test (ctest runs tests in parallel), not emptied: scratch_dir() is.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir =
      std::string(R1_TEST_TMP) + "/" + info->test_suite_name() + "." + info->name() + ".cli";
  std::filesystem::create_directories(dir);
  const std::string in = write_file(dir + "/in", stdin_text);
  const std::string cmd =
      std::string(R1_BINARY) + " " + args + " <'" + in + "' >'" + dir + "/out' 2>'" + dir + "/err'";
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, r1::testing::slurp(dir + "/out"),
          r1::testing::slurp(dir + "/err")};
}

bool tokenize_wired() {
  static const bool wired = run_r1("--help", "").out.find("tokenize") != std::string::npos;
  return wired;
}

#define SKIP_UNLESS_WIRED() \
  if (!tokenize_wired()) GTEST_SKIP() << "r1 tokenize is not registered in src/cli/main.cpp"

void expect_one_line_failure(const RunResult& r, const std::string& part) {
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_EQ(r.err.rfind("r1: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

}  // namespace

TEST(TokCli, EncodeDecode) {
  SKIP_UNLESS_WIRED();
  const std::string dir = scratch_dir();
  const std::string p = write_json(dir, tiny_tokenizer());
  auto r = run_r1("tokenize --tokenizer '" + p + "'", "hello<|end|>");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "[259,260]\n");
  r = run_r1("tokenize --tokenizer '" + p + "' --no-special", "hello<|end|>");
  EXPECT_EQ(r.out.substr(0, 5), "[259,");
  EXPECT_GT(r.out.size(), 12u);
  r = run_r1("tokenize --tokenizer '" + p + "' --decode", "[259, 32, 260]");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello <|end|>");
  r = run_r1("tokenize --tokenizer '" + p + "' --decode --skip-special", "[259, 260]");
  EXPECT_EQ(r.out, "hello");
}

TEST(TokCli, Stories260KAddSpecial) {
  SKIP_UNLESS_WIRED();
  R1_SKIP_UNLESS_SHARED(r1::testing::stories_gguf());
  const auto t = r1::load_tokenizer(r1::testing::stories_gguf());
  auto r =
      run_r1("tokenize --tokenizer '" + r1::testing::stories_gguf() + "' --add-special", "Once upon a time");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, nlohmann::json(t->encode("Once upon a time", true, true)).dump() + "\n");
  EXPECT_EQ(r.out.substr(0, 3), "[1,");
  r = run_r1("tokenize --tokenizer '" + r1::testing::stories_gguf() + "'", "Once upon a time");
  EXPECT_EQ(r.out, nlohmann::json(t->encode("Once upon a time")).dump() + "\n");
}

TEST(TokCli, BadInputIsOneLine) {
  SKIP_UNLESS_WIRED();
  const std::string dir = scratch_dir();
  const std::string bad = write_file(dir + "/bad.json", "{\"model\": ");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + bad + "'", "hi"), "malformed JSON");
  json j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  const std::string ws = write_json(dir, j, "ws.json");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + ws + "'", "hi"),
                          "pre_tokenizer.type 'Whitespace' is not supported");
  const std::string good = write_json(dir, tiny_tokenizer());
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + good + "' --decode", "[1, 2"),
                          "stdin: malformed JSON");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + good + "' --decode", "{\"a\": 1}"),
                          "expected a JSON array");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + good + "' --decode", "[1, -2]"), "element 1");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + good + "' --decode", "[1, 99999]"),
                          "out of range");
  expect_one_line_failure(run_r1("tokenize --tokenizer '" + dir + "/none'", "x"), "no such file");
  expect_one_line_failure(run_r1("tokenize", "x"), "tokenizer");
}
