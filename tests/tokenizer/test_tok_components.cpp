// Pipeline stages on their own, against the behaviours the Hugging Face `tokenizers`
// documentation spells out.
#include <gtest/gtest.h>

#include <list>

#include "test_util.h"
#include "tokenizer/components.h"

namespace {

using json = nlohmann::json;

std::vector<std::string> pre_tokenize(const json& j, const std::string& text, bool at_start = true) {
  const auto p = r1::tok::make_pre_tokenizer(j, {"test.json", "pre_tokenizer"});
  std::vector<std::string_view> pieces{text};
  std::list<std::string> arena;
  p->split(pieces, r1::tok::PreTokContext{&arena, at_start});
  return {pieces.begin(), pieces.end()};
}

std::string decode(const json& j, std::vector<std::string> tokens) {
  const auto d = r1::tok::make_decoder(j, {"test.json", "decoder"});
  d->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST(TokComponents, SplitBehaviors) {
  const auto split = [](const std::string& behavior, bool invert = false) {
    return pre_tokenize(
        {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
        "the-final--countdown");
  };
  EXPECT_EQ(split("Removed"), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(split("Removed", true), (V{"-", "-", "-"}));  // each match is a piece
  // A regex pattern with Unicode classes.
  EXPECT_EQ(pre_tokenize({{"type", "Split"}, {"pattern", {{"Regex", "\\p{N}+"}}}, {"behavior", "Isolated"}},
                         "ab١٢٣cd 45"),
            (V{"ab", "١٢٣", "cd ", "45"}));
}

TEST(TokComponents, ByteLevelGpt2Regex) {
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", false}}, "Hello world's  end\n"),
            (V{"Hello", " world", "'s", " ", " end", "\n"}));
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}}, "Hi"), (V{" Hi"}));
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}}, "a b"),
            (V{" a b"}));
}

TEST(TokComponents, Metaspace) {
  const json always = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}};
  EXPECT_EQ(pre_tokenize(always, "Hey friend!"), (V{"\xE2\x96\x81Hey",
                                                    "\xE2\x96\x81"
                                                    "friend!"}));
  json first = always;
  first["prepend_scheme"] = "first";
  EXPECT_EQ(pre_tokenize(first, "Hey", false), (V{"Hey"}));
  EXPECT_EQ(pre_tokenize(first, "Hey", true), (V{"\xE2\x96\x81Hey"}));
  json nosplit = always;
  nosplit["split"] = false;
  EXPECT_EQ(pre_tokenize(nosplit, "a b"), (V{"\xE2\x96\x81"
                                             "a\xE2\x96\x81"
                                             "b"}));
  EXPECT_EQ(decode(always, {"\xE2\x96\x81Hey",
                            "\xE2\x96\x81"
                            "friend!"}),
            "Hey friend!");
}

TEST(TokComponents, Decoders) {
  const json spm = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  EXPECT_EQ(decode(spm, {"\xE2\x96\x81Hi", "<0xE4>", "<0xB8>", "<0xAD>", "\xE2\x96\x81x"}),
            "Hi\xE4\xB8\xAD x");
  // An invalid byte stays a byte (the reference would write U+FFFD).
  EXPECT_EQ(decode(spm, {"<0xFF>", "a"}),
            "\xFF"
            "a");
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"Hello", "\xC4\xA0world", "<|x|>"}), "Hello world<|x|>");
  EXPECT_EQ(decode({{"type", "Strip"}, {"content", "x"}, {"start", 2}, {"stop", 1}}, {"xxxaxx"}), "xax");
}

TEST(TokComponents, Normalizers) {
  const auto norm = [](const json& j, std::string s) {
    r1::tok::make_normalizer(j, {"test.json", "normalizer"})->normalize(s);
    return s;
  };
  EXPECT_EQ(norm({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(norm({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(norm({{"type", "NFKC"}}, "\xEF\xAC\x81"), "fi");
  EXPECT_EQ(norm({{"type", "NFC"}},
                 "e\xCC\x81\xFF"
                 "e\xCC\x81"),
            "\xC3\xA9\xFF\xC3\xA9");  // invalid byte kept
  EXPECT_EQ(norm({{"type", "Lowercase"}}, "ÀB\xFFΣ"), "àb\xFFσ");
  EXPECT_EQ(norm({{"type", "Prepend"}, {"prepend", "_"}}, ""), "");
  EXPECT_EQ(norm({{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", " "}}, "a   b  c"),
            "a b c");
  EXPECT_EQ(norm({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \u3000x y\n"), "x y");
}
