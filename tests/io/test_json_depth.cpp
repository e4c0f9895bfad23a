// The JSON depth limit (src/io/json.h) and the refusal of UTF-16/UTF-32 text (src/io/encoding.h):
// the parser's unit behaviour, then end to end through the r1 binary for each kind of JSON the
// user hands it (a JSON Lines row on stdin, a --messages file, a tokenizer_config.json, a
// tokenizer.json, a model's config.json) and for a recipe.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/recipe.h"
#include "io/encoding.h"
#include "io/json.h"
#include "io/jsonl.h"
#include "run_r1.h"
#include "test_util.h"
#include "train/zero_run.h"

namespace {

namespace fs = std::filesystem;
using r1::kJsonMaxDepth;
using r1::testing::error_of;
using r1::testing::expect_error;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;
using r1::testing::scratch_dir;
using r1::testing::write_file;

// n nested arrays: "[[...]]".
std::string arrays(int n) {
  return std::string(static_cast<size_t>(n), '[') + std::string(static_cast<size_t>(n), ']');
}

// n nested objects: {"a":{"a":...1...}}.
std::string objects(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(static_cast<size_t>(n), '}');
  return s;
}

// The text's bytes in UTF-16LE/BE (ASCII input only), with or without a byte order mark.
std::string utf16(std::string_view ascii, bool little, bool bom) {
  std::string out;
  if (bom) out += little ? "\xFF\xFE" : "\xFE\xFF";
  for (char c : ascii) {
    if (little) {
      out += c;
      out += '\0';
    } else {
      out += '\0';
      out += c;
    }
  }
  return out;
}

const int kDeep = 300000;  // deep enough to overflow any recursive walker's stack

}  // namespace

// --- the parser ------------------------------------------------------------------------------

TEST(JsonDepth, LimitAcceptedOneMoreRefused) {
  EXPECT_EQ(kJsonMaxDepth, 512);
  for (int n : {kJsonMaxDepth - 1, kJsonMaxDepth}) {
    SCOPED_TRACE(n);
    EXPECT_TRUE(r1::parse_json(arrays(n), "a.json").is_array());
    EXPECT_TRUE(r1::parse_json(objects(n), "o.json").is_object());
    EXPECT_TRUE(r1::parse_json<nlohmann::ordered_json>(objects(n), "o.json").is_object());
    EXPECT_FALSE(r1::json_too_deep(arrays(n)).has_value());
  }
  EXPECT_EQ(error_of([] { r1::parse_json(arrays(kJsonMaxDepth + 1), "a.json"); }),
            "a.json: JSON nests deeper than 512 levels (line 1, column 513)");
  // {"a": is 5 bytes: the 513th '{' is at column 5 * 512 + 1.
  EXPECT_EQ(error_of([] { r1::parse_json<nlohmann::ordered_json>(objects(kJsonMaxDepth + 1), "o.json"); }),
            "o.json: JSON nests deeper than 512 levels (line 1, column 2561)");
  // A JSON Lines row: `where` names the line, the position is a column.
  EXPECT_EQ(error_of([] { r1::parse_json(arrays(kJsonMaxDepth + 1), "d.jsonl:7", r1::JsonText::Line); }),
            "d.jsonl:7: JSON nests deeper than 512 levels (column 513)");
  EXPECT_TRUE(r1::parse_json_or_discarded(arrays(kJsonMaxDepth + 1)).is_discarded());
  EXPECT_FALSE(r1::parse_json_or_discarded(arrays(kJsonMaxDepth)).is_discarded());
}

TEST(JsonDepth, PositionNamesTheLine) {
  std::string text = "{\n  \"ok\": [1, 2],\n  \"deep\": ";
  text += arrays(kJsonMaxDepth) + "\n}\n";
  EXPECT_EQ(error_of([&] { r1::parse_json(text, "cfg.json"); }),
            "cfg.json: JSON nests deeper than 512 levels (line 3, column 522)");
  // A string holding escaped newlines and brackets does not move the position.
  const std::string text2 = "[\"x\\n[[\\\"[\",\n" + arrays(kJsonMaxDepth) + "]";
  EXPECT_EQ(error_of([&] { r1::parse_json(text2, "s.json"); }),
            "s.json: JSON nests deeper than 512 levels (line 2, column 512)");
}

TEST(JsonDepth, BracketsInsideStringsDoNotCount) {
  // Strings full of brackets, escaped quotes and backslashes, at the limit's depth.
  const std::string brackets = std::string(2000, '[') + std::string(2000, '{');
  const std::string inner =
      "[\"" + brackets + "\", \"\\\"" + brackets + "\", \"\\\\\", {\"" + brackets + "\": 1}]";
  std::string text = std::string(kJsonMaxDepth - 2, '[') + inner + std::string(kJsonMaxDepth - 2, ']');
  EXPECT_FALSE(r1::json_too_deep(text).has_value());
  const nlohmann::json j = r1::parse_json(text, "s.json");
  EXPECT_TRUE(j.is_array());
  // An escaped backslash ends the string at the next quote: the brackets after it count.
  const std::string after = "[\"\\\\\", " + arrays(kJsonMaxDepth) + "]";
  EXPECT_EQ(r1::json_too_deep(after)->column, 7u + kJsonMaxDepth);
  // An escaped quote does not end it: these brackets are text.
  const std::string escaped = "[\"\\\", " + arrays(kJsonMaxDepth) + "\"]";
  EXPECT_FALSE(r1::json_too_deep(escaped).has_value());
  EXPECT_TRUE(r1::parse_json(escaped, "e.json").is_array());
}

TEST(JsonDepth, HostileDepthRefusedWithoutBuildingIt) {
  for (const std::string& text :
       {arrays(kDeep), objects(kDeep), std::string(kDeep, '['), "{\"k\": " + std::string(kDeep, '[')}) {
    SCOPED_TRACE(text.substr(0, 12));
    expect_error([&] { r1::parse_json(text, "deep.json"); },
                 {"deep.json: JSON nests deeper than 512 levels"});
    expect_error([&] { r1::parse_json<nlohmann::ordered_json>(text, "deep.json"); }, {"nests deeper"});
    EXPECT_TRUE(r1::parse_json_or_discarded(text).is_discarded());
    EXPECT_TRUE(r1::parse_json_or_discarded<nlohmann::ordered_json>(text).is_discarded());
  }
}

TEST(JsonDepth, MalformedJsonStillNamesThePlace) {
  EXPECT_EQ(error_of([] {
              r1::parse_json("{\"a\": }", "m.json");
            }).rfind("m.json: malformed JSON: parse error at line 1, column 7", 0),
            0u);
  EXPECT_EQ(error_of([] {
              r1::parse_json("[1,", "m.jsonl:3", r1::JsonText::Line);
            }).rfind("m.jsonl:3: malformed JSON: column 4", 0),
            0u);
  // nlohmann stops at a NUL byte and would accept what came before it.
  const std::string nul = std::string("{\"a\": 1}\n") + '\0' + "{garbage";
  EXPECT_EQ(error_of([&] { r1::parse_json(nul, "n.json"); }),
            "n.json: malformed JSON: a NUL byte at line 2, column 1");
  const std::string row = std::string("{\"a\": 1}") + '\0' + "{garbage";
  EXPECT_EQ(error_of([&] { r1::parse_json<nlohmann::ordered_json>(row, "n.jsonl:2", r1::JsonText::Line); }),
            "n.jsonl:2: malformed JSON: a NUL byte at column 9");
  EXPECT_TRUE(r1::parse_json_or_discarded(nul).is_discarded());
  EXPECT_TRUE(r1::parse_json_or_discarded(row).is_discarded());
  const std::string path = write_file(scratch_dir() + "/n.jsonl", "{\"i\": 1}\n" + row + "\n");
  EXPECT_EQ(error_of([&] { r1::read_jsonl(path); }), path + ":2: malformed JSON: a NUL byte at column 9");
}

TEST(JsonDepth, FilesAndJsonLines) {
  const std::string dir = scratch_dir();
  const std::string cfg = write_file(dir + "/config.json", "{\n\"x\": " + arrays(kDeep) + "}\n");
  EXPECT_EQ(error_of([&] { r1::read_json_file(cfg); }),
            cfg + ": JSON nests deeper than 512 levels (line 2, column 517)");
  const std::string data = write_file(dir + "/d.jsonl", "{\"i\": 1}\n{\"i\": " + objects(kDeep) + "}\n");
  r1::JsonlReader reader(data);
  nlohmann::json row;
  ASSERT_TRUE(reader.next(row));
  EXPECT_EQ(error_of([&] { reader.next(row); }),
            data + ":2: JSON nests deeper than 512 levels (column 2562)");
  expect_error([&] { r1::read_jsonl(data); }, {data + ":2:", "nests deeper than 512 levels"});
}

// --- encodings -------------------------------------------------------------------------------

TEST(TextEncoding, NamesUtf16AndUtf32) {
  EXPECT_EQ(r1::foreign_encoding(utf16("{}", true, true)), "UTF-16 (byte order mark FF FE)");
  EXPECT_EQ(r1::foreign_encoding(utf16("{}", false, true)), "UTF-16 (byte order mark FE FF)");
  EXPECT_EQ(r1::foreign_encoding(utf16("{}", true, false)), "UTF-16 (little-endian, no byte order mark)");
  EXPECT_EQ(r1::foreign_encoding(utf16("{}", false, false)), "UTF-16 (big-endian, no byte order mark)");
  EXPECT_EQ(r1::foreign_encoding(std::string("\xFF\xFE\0\0{\0\0\0", 8)),
            "UTF-32 (byte order mark FF FE 00 00)");
  EXPECT_EQ(r1::foreign_encoding(std::string("\0\0\xFE\xFF\0\0\0{", 8)),
            "UTF-32 (byte order mark 00 00 FE FF)");
  EXPECT_EQ(r1::foreign_encoding(std::string("{\0\0\0", 4)), "UTF-32 (little-endian, no byte order mark)");
  EXPECT_EQ(r1::foreign_encoding(std::string("\0\0\0{", 4)), "UTF-32 (big-endian, no byte order mark)");
  // UTF-8, with or without its byte order mark, short texts and invalid UTF-8 are not named.
  for (std::string_view ok : {"", "{", "{}", "\xEF\xBB\xBF{}", "h\xC3\xA9llo", "\xFF\xFF", "\xFE"})
    EXPECT_EQ(r1::foreign_encoding(ok), "") << ok;
  EXPECT_EQ(error_of([] { r1::require_utf8(utf16("[]", true, true), "m.json"); }),
            "m.json: the file is UTF-16 (byte order mark FF FE); r1 reads UTF-8");
  EXPECT_EQ(error_of([] { r1::require_utf8(utf16("[]", false, false), "stdin"); }),
            "stdin: the input is UTF-16 (big-endian, no byte order mark); r1 reads UTF-8");
}

TEST(TextEncoding, JsonJsonlAndRecipeReadersRefuseUtf16) {
  const std::string dir = scratch_dir();
  const std::string j = write_file(dir + "/c.json", utf16("{\"a\": 1}", true, true));
  EXPECT_EQ(error_of([&] { r1::read_json_file(j); }),
            j + ": the file is UTF-16 (byte order mark FF FE); r1 reads UTF-8");
  const std::string l = write_file(dir + "/d.jsonl", utf16("{\"i\": 1}\n{\"i\": 2}\n", false, false));
  EXPECT_EQ(error_of([&] { r1::read_jsonl(l); }),
            l + ": the file is UTF-16 (big-endian, no byte order mark); r1 reads UTF-8");
  const std::string r = write_file(dir + "/r.toml", utf16("[train]\nsteps = 1\n", true, true));
  EXPECT_EQ(error_of([&] { r1::Recipe::load(r); }),
            r + ": the file is UTF-16 (byte order mark FF FE); r1 reads UTF-8");
  // A UTF-8 byte order mark stays accepted.
  EXPECT_EQ(r1::read_json_file(write_file(dir + "/bom.json", "\xEF\xBB\xBF{\"a\": 1}"))["a"], 1);
  EXPECT_EQ(r1::read_jsonl(write_file(dir + "/bom.jsonl", "\xEF\xBB\xBF{\"i\": 1}\n")).size(), 1u);
  EXPECT_EQ(r1::Recipe::load(write_file(dir + "/bom.toml", "\xEF\xBB\xBF[train]\nsteps = 3\n"))
                .get_int("train.steps"),
            3);
}

// --- end to end ------------------------------------------------------------------------------

TEST(JsonDepthCli, ScoreRefusesADeepRowOnStdin) {
  const std::string dir = scratch_dir();
  const std::string in =
      write_file(dir + "/in.jsonl", "{\"completion\": \"\\\\boxed{1}\", \"gold\": \"1\"}\n{\"completion\": " +
                                        objects(kDeep) + ", \"gold\": \"1\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, in), {"stdin line 2: JSON nests deeper than 512 levels"}));
}

TEST(TextEncoding, TokenizeRefusesUtf16OnStdin) {
  const std::string dir = scratch_dir();
  const std::string in = write_file(dir + "/in.txt", utf16("hello", true, true));
  EXPECT_TRUE(IsOneLineError(run_r1({"tokenize", "--tokenizer", r1::shipped_zero_base()}, 60, in),
                             {"stdin: the input is UTF-16 (byte order mark FF FE); r1 reads UTF-8"}));
  const std::string ids = write_file(dir + "/ids.json", utf16("[104, 105]", false, false));
  EXPECT_TRUE(
      IsOneLineError(run_r1({"tokenize", "--tokenizer", r1::shipped_zero_base(), "--decode"}, 60, ids),
                     {"stdin: the input is UTF-16 (big-endian, no byte order mark); r1 reads UTF-8"}));
}

TEST(JsonDepthCli, TemplateRefusesDeepMessagesAndConfig) {
  const std::string dir = scratch_dir();
  const std::string deep =
      write_file(dir + "/deep.json", "[{\"role\": \"user\", \"content\": " + arrays(kDeep) + "}]");
  EXPECT_TRUE(IsOneLineError(run_r1({"template", "--tokenizer", "r1zero", "--messages", deep}),
                             {deep + ": JSON nests deeper than 512 levels (line 1, column 540)"}));
  // The same on stdin.
  EXPECT_TRUE(IsOneLineError(run_r1({"template", "--tokenizer", "r1zero", "--messages", "-"}, 60, deep),
                             {"stdin: JSON nests deeper than 512 levels"}));
  // A tokenizer directory of our own whose tokenizer_config.json nests too deeply.
  const std::string tok = dir + "/tok";
  fs::create_directories(tok);
  write_file(tok + "/tokenizer_config.json",
             "{\"chat_template\": \"{{ messages[0].content }}\",\n \"x\": " + objects(kDeep) + "}");
  const std::string ok = write_file(dir + "/ok.json", "[{\"role\": \"user\", \"content\": \"hi\"}]");
  EXPECT_TRUE(IsOneLineError(
      run_r1({"template", "--tokenizer", tok, "--messages", ok}),
      {tok + "/tokenizer_config.json: JSON nests deeper than 512 levels (line 2, column 2562)"}));
  // --set-var takes JSON too (a shallower value: one argument is at most 128 KiB).
  EXPECT_TRUE(IsOneLineError(
      run_r1({"template", "--tokenizer", "r1zero", "--messages", ok, "--set-var", "x=" + arrays(1000)}),
      {"--set-var x: JSON nests deeper than 512 levels (column 513)"}));
  // Within the JSON limit but deeper than the template interpreter's own (256): one line too.
  const std::string d400 =
      write_file(dir + "/d400.json", "[{\"role\": \"user\", \"content\": " + arrays(400) + "}]");
  EXPECT_TRUE(IsOneLineError(run_r1({"template", "--tokenizer", "r1zero", "--messages", d400}),
                             {"template variable 'messages' nests too deeply (the limit is 256 levels)"}));
}

TEST(JsonDepthCli, TokenizeRefusesADeepTokenizerJson) {
  const std::string dir = scratch_dir();
  const std::string tok = dir + "/tok";
  fs::create_directories(tok);
  write_file(tok + "/tokenizer.json", "{\"model\": " + arrays(kDeep) + "}");
  const std::string in = write_file(dir + "/in.txt", "hi");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"tokenize", "--tokenizer", tok}, 60, in),
                     {tok + "/tokenizer.json: JSON nests deeper than 512 levels (line 1, column 522)"}));
}

TEST(JsonDepthCli, GenerateRefusesADeepConfigJson) {
  const std::string dir = scratch_dir();
  const std::string model = dir + "/model";
  fs::create_directories(model);
  const std::string cfg =
      write_file(model + "/config.json",
                 "{\"architectures\": [\"LlamaForCausalLM\"],\n\"rope_scaling\": " + objects(kDeep) + "}\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"generate", "--model", model, "--prompt", "x"}),
                     {model + "/config.json: JSON nests deeper than 512 levels (line 2, column 2572)"}));
}

TEST(TextEncodingCli, Utf16InputsAreNamed) {
  const std::string dir = scratch_dir();
  const std::string in =
      write_file(dir + "/in.jsonl", utf16("{\"completion\": \"1\", \"gold\": \"1\"}\n", true, true));
  EXPECT_TRUE(IsOneLineError(run_r1({"score"}, 60, in),
                             {"stdin: the input is UTF-16 (byte order mark FF FE); r1 reads UTF-8"}));
  const std::string msgs =
      write_file(dir + "/m.json", utf16("[{\"role\": \"user\", \"content\": \"hi\"}]", false, false));
  EXPECT_TRUE(
      IsOneLineError(run_r1({"template", "--tokenizer", "r1zero", "--messages", msgs}),
                     {msgs + ": the file is UTF-16 (big-endian, no byte order mark); r1 reads UTF-8"}));
  const std::string recipe = write_file(dir + "/r.toml", utf16("[train]\nsteps = 1\n", true, true));
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", recipe}),
                             {recipe + ": the file is UTF-16 (byte order mark FF FE); r1 reads UTF-8"}));
  for (const std::string& f : {in, msgs, recipe}) EXPECT_TRUE(fs::exists(f));
}
