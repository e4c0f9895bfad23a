// r1 sft's assistant-only mask on conversations. For the real Qwen2.5 and Qwen3 templates on 24
// conversations (system prompts, multi-turn, tool calls and tool results, reasoning_content,
// reasoning inside the content, unicode), the training sequences and their mask equal the
// reference of tests/reference/chat_mask_ref.py, built from Python jinja2's renderings of the
// conversation's prefixes, tokenized by the same tokenizer; every assistant turn is trained once,
// its trained tokens decode to its answer and end with the end-of-turn token, and the pieces'
// tokens equal the tokenization of the sequence's whole text. Then the built-in distill format
// and the bad inputs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/chat_data.h"

namespace {

using ojson = nlohmann::ordered_json;
using r1::ChatTemplate;
using r1::TextPiece;
using r1::testing::error_of;
using r1::testing::scratch_dir;
using r1::testing::write_file;

const std::string kQwen25 = r1::testing::shared_path("models/qwen2.5-0.5b-instruct-noweights");
const std::string kQwen3 = r1::testing::shared_path("models/qwen3-tokenizer");

const char* kConversations = R"json([
  [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
  [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
   {"role": "assistant", "content": "Hello."}],
  [{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"},
   {"role": "user", "content": "3"}, {"role": "assistant", "content": "4"},
   {"role": "user", "content": "5"}, {"role": "assistant", "content": "6"}],
  [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
   {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
   {"role": "assistant", "content": "d"}],
  [{"role": "user", "content": "Solve x+1=3."},
   {"role": "assistant", "content": "<think>\nx = 3 - 1\n</think>\n\nx = 2"}],
  [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "reasoning_content": "because"}],
  [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "reasoning_content": "r1"},
   {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2", "reasoning_content": "r2"}],
  [{"role": "system", "content": "Think first."}, {"role": "user", "content": "q1"},
   {"role": "assistant", "content": "<think>\nr1\n</think>\n\na1"}, {"role": "user", "content": "q2"},
   {"role": "assistant", "content": "<think>\nr2\n</think>\n\na2"}, {"role": "user", "content": "q3"},
   {"role": "assistant", "content": "<think>\nr3\n</think>\n\na3"}],
  [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "plain a1"},
   {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2", "reasoning_content": "think 2"}],
  [{"role": "system", "content": "Réponds en français 🇫🇷"},
   {"role": "user", "content": "你好，世界！ مرحبا بالعالم e\u0301 \u200b\ud83d\ude00"},
   {"role": "assistant", "content": "<think>\n思考 🤔\n</think>\n\nこんにちは"}],
  [{"role": "user", "content": "x"}, {"role": "assistant", "content": "multi\nline\n\nanswer\n"}],
  [{"role": "user", "content": "Weather in Paris and Rome?"},
   {"role": "assistant", "content": "",
    "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                   {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}}]},
   {"role": "tool", "content": "{\"temp\": 21}"}, {"role": "tool", "content": "{\"temp\": 25}"},
   {"role": "assistant", "content": "Paris 21, Rome 25."}],
  [{"role": "user", "content": "Call it"},
   {"role": "assistant", "content": "Let me check.", "tool_calls": [{"function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
   {"role": "tool", "content": "ok"}, {"role": "assistant", "content": "Done: ok."}],
  [{"role": "user", "content": "Call it"},
   {"role": "assistant", "tool_calls": [{"name": "f", "arguments": {"a": [1, 2, {"b": "ü"}]}}]},
   {"role": "tool", "content": "ok"}, {"role": "user", "content": "thanks"},
   {"role": "assistant", "content": "You're welcome."}],
  [{"role": "user", "content": "multi"},
   {"role": "assistant", "content": "<think>\nstep 1\n</think>\n\n", "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
   {"role": "tool", "content": "r1"},
   {"role": "assistant", "content": "<think>\nstep 2\n</think>\n\n", "tool_calls": [{"function": {"name": "b", "arguments": {}}}]},
   {"role": "tool", "content": "r2"},
   {"role": "assistant", "content": "<think>\ndone\n</think>\n\nfinal"}],
  [{"role": "user", "content": "tools then a new question"},
   {"role": "assistant", "content": "", "reasoning_content": "need a tool", "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
   {"role": "tool", "content": "r"}, {"role": "assistant", "content": "got r", "reasoning_content": "use r"},
   {"role": "user", "content": "and now?"}, {"role": "assistant", "content": "now this", "reasoning_content": "again"}],
  [{"role": "user", "content": "q"},
   {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
   {"role": "user", "content": "<tool_response>\nr\n</tool_response>"},
   {"role": "assistant", "content": "<think>\nt\n</think>\n\nans"}],
  [{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
   {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
  [{"role": "user", "content": "<|im_start|>x<|im_end|>\n\n  spaced  \n"},
   {"role": "assistant", "content": "\n\n<think>\n\nlots of\n\nspace\n\n</think>\n\n\nanswer\n\n"}],
  [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>unclosed"}],
  [{"role": "user", "content": "q"}, {"role": "assistant", "content": "</think>after only"},
   {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}],
  [{"role": "system", "content": ""}, {"role": "user", "content": ""}, {"role": "assistant", "content": "empty question"}],
  [{"role": "user", "content": "code?"},
   {"role": "assistant", "content": "```python\nprint('hi')\n```", "reasoning_content": "a print will do"},
   {"role": "user", "content": "in C?"},
   {"role": "assistant", "content": "```c\nputs(\"hi\");\n```", "reasoning_content": "puts"}],
  [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}, {"role": "user", "content": "trailing user turn"}]
])json";

// The reference's sequences (see chat_mask_ref.py), or nullopt with *skip set.
std::optional<std::vector<ojson>> reference(const ojson& items, std::string* skip) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    *skip = "/usr/bin/python3 is not installed";
    return std::nullopt;
  }
  const std::string dir = scratch_dir();
  const std::string in = write_file(dir + "/in.json", ojson{{"items", items}}.dump());
  const std::string out = dir + "/out.json";
  const std::string cmd =
      "/usr/bin/python3 " R1_SOURCE_DIR "/tests/reference/chat_mask_ref.py '" + in + "' '" + out + "'";
  const int status = std::system(cmd.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    *skip = "python3-jinja2 is not installed (apt-get install python3-jinja2)";
    return std::nullopt;
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  const ojson results = ojson::parse(r1::testing::read_file(out));
  return std::vector<ojson>(results.begin(), results.end());
}

// Compares r1's sequences with the reference for every conversation, token by token; returns how
// many sequences were compared in *compared (-1 when the reference is unavailable).
void compare_with_reference(const std::string& model_dir, int* compared, int* multi_sequence) {
  const ChatTemplate tmpl = ChatTemplate::load(model_dir);
  const auto tok = r1::load_tokenizer(model_dir);
  const std::string eot = tok->decode(std::vector<int32_t>{tok->eos_id()});
  EXPECT_EQ(eot, "<|im_end|>");
  const ojson conversations = ojson::parse(kConversations);
  ojson items = ojson::array();
  for (const auto& c : conversations)
    items.push_back(
        {{"config", model_dir + "/tokenizer_config.json"}, {"messages", c}, {"end_of_turn", {eot}}});
  std::string skip;
  const auto want = reference(items, &skip);
  if (!want) {
    std::printf("[  SKIPPED ] %s\n", skip.c_str());
    *compared = -1;
    return;
  }
  r1::ChatSequenceOptions opt;
  opt.end_of_turn = {eot};
  *compared = 0;
  for (size_t i = 0; i < conversations.size(); i++) {
    SCOPED_TRACE("conversation " + std::to_string(i) + ": " + conversations[i].dump());
    const auto& w = (*want)[i];
    ASSERT_TRUE(w.contains("ok")) << w.dump();
    const ojson msgs = r1::training_messages(conversations[i], tmpl, "test");
    const auto got = r1::conversation_pieces(tmpl, msgs, opt, "test");
    ASSERT_EQ(got.size(), w["ok"].size());
    if (got.size() > 1) ++*multi_sequence;
    int trained_turns = 0;
    for (size_t s = 0; s < got.size(); s++) {
      // The reference's pieces through the same tokenizer: the expected tokens and mask.
      std::vector<TextPiece> ref;
      std::string whole;
      for (const auto& p : w["ok"][s]) {
        ref.push_back({p[0].get<std::string>(), p[1].get<bool>()});
        whole += ref.back().text;
      }
      const auto expect = r1::tokenize_pieces(ref, *tok);
      const auto mine = r1::tokenize_pieces(got[s], *tok);
      ASSERT_EQ(mine.tokens, expect.tokens) << "sequence " << s;
      ASSERT_EQ(mine.trained, expect.trained) << "sequence " << s;
      // The pieces' tokens are the whole text's tokenization, so the mask lies on it exactly;
      // except where an answer starts with whitespace that the prompt's last "\n" would merge
      // with (conversation 18): pieces are encoded as generation sees them, prompt and answer apart.
      bool blank_start = false;
      for (const auto& p : got[s])
        blank_start |= p.trained && !p.text.empty() && std::isspace(static_cast<unsigned char>(p.text[0]));
      if (!blank_start) {
        EXPECT_EQ(mine.tokens, tok->encode(whole)) << "sequence " << s;
      }
      // Each trained run decodes to its piece and ends with the end-of-turn token.
      size_t piece = 0;
      for (size_t t = 0; t < mine.tokens.size();) {
        if (!mine.trained[t]) {
          t++;
          continue;
        }
        size_t e = t;
        while (e < mine.tokens.size() && mine.trained[e]) e++;
        while (piece < got[s].size() && !got[s][piece].trained) piece++;
        ASSERT_LT(piece, got[s].size());
        EXPECT_EQ(tok->decode(std::vector<int32_t>(mine.tokens.begin() + t, mine.tokens.begin() + e)),
                  got[s][piece].text);
        EXPECT_EQ(mine.tokens[e - 1], tok->eos_id()) << "a trained turn must end with <|im_end|>";
        trained_turns++;
        piece++;
        t = e;
      }
      EXPECT_EQ(mine.trained.back(), 1) << "a sequence ends with its last answer";
      ++*compared;
    }
    int assistants = 0;
    for (const auto& m : conversations[i]) assistants += m["role"] == "assistant";
    EXPECT_EQ(trained_turns, assistants) << "every assistant turn is trained exactly once";
  }
}

}  // namespace

TEST(ChatMask, Qwen25TemplateMatchesTheJinja2Reference) {
  R1_SKIP_UNLESS_SHARED(kQwen25);
  int n = 0, multi = 0;
  compare_with_reference(kQwen25, &n, &multi);
  if (n < 0) R1_SKIP_WITHOUT_ORACLE("jinja2 unavailable");
  EXPECT_EQ(n, 24);  // Qwen2.5 renders every turn alike: one sequence per conversation
  EXPECT_EQ(multi, 0);
}

TEST(ChatMask, Qwen3TemplateMatchesTheJinja2Reference) {
  R1_SKIP_UNLESS_SHARED(kQwen3);
  int n = 0, multi = 0;
  compare_with_reference(kQwen3, &n, &multi);
  if (n < 0) R1_SKIP_WITHOUT_ORACLE("jinja2 unavailable");
  // Qwen3 drops the reasoning of turns before the last user message: those turns get their own
  // sequence, rendered up to themselves.
  EXPECT_GT(multi, 3);
  EXPECT_GT(n, 24);
}

namespace {

std::vector<std::vector<TextPiece>> pieces_of(const ChatTemplate& t, const std::string& messages_json,
                                              std::vector<std::string> eot = {}) {
  r1::ChatSequenceOptions o;
  o.end_of_turn = std::move(eot);
  const ojson msgs =
      r1::training_messages(nlohmann::json::parse(messages_json), t, "rows.jsonl:3: field 'messages'");
  return r1::conversation_pieces(t, msgs, o, "rows.jsonl:3: field 'messages'");
}

}  // namespace

TEST(ChatMask, DistillFormatTrainsTheReasoningOfTheLastAnswer) {
  const ChatTemplate t = ChatTemplate::load("distill");
  const std::string eos = t.special_token("eos_token");
  const auto one = pieces_of(t, R"([{"role": "user", "content": "q"},
      {"role": "assistant", "content": "<think>\nr\n</think>\n\na"}])",
                             {eos});
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(one[0].size(), 2u);
  EXPECT_EQ(one[0][0].text, "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><think>\n");
  EXPECT_FALSE(one[0][0].trained);
  EXPECT_EQ(one[0][1].text, "r\n</think>\n\na<｜end▁of▁sentence｜>");
  EXPECT_TRUE(one[0][1].trained);
  // reasoning_content is written into the answer for a template that does not render it.
  EXPECT_EQ(pieces_of(t, R"([{"role": "user", "content": "q"},
      {"role": "assistant", "content": "a", "reasoning_content": "r"}])",
                      {eos})[0][1]
                .text,
            "r\n</think>\n\na<｜end▁of▁sentence｜>");
  // Two turns: the format drops the first answer's reasoning once a later turn follows, so the
  // first turn is trained in its own sequence, with its reasoning, and the second in the whole.
  const auto two = pieces_of(t, R"([{"role": "user", "content": "q1"},
      {"role": "assistant", "content": "<think>\nr1\n</think>\n\na1"}, {"role": "user", "content": "q2"},
      {"role": "assistant", "content": "<think>\nr2\n</think>\n\na2"}])",
                             {eos});
  ASSERT_EQ(two.size(), 2u);
  ASSERT_EQ(two[0].size(), 2u);
  EXPECT_EQ(two[0][1].text, "r1\n</think>\n\na1<｜end▁of▁sentence｜>");
  ASSERT_EQ(two[1].size(), 2u);
  EXPECT_EQ(two[1][0].text,
            "<｜begin▁of▁sentence｜><｜User｜>q1<｜Assistant｜>\n\na1<｜end▁of▁sentence｜><｜User｜>q2<"
            "｜Assistant｜><think>\n");
  EXPECT_EQ(two[1][1].text, "r2\n</think>\n\na2<｜end▁of▁sentence｜>");
}

TEST(ChatMask, BadConversationsAreOneLineErrors) {
  const ChatTemplate t = ChatTemplate::load("distill");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}])",
       "unknown role 'robot'"},
      {R"([{"role": "user"}, {"role": "assistant", "content": "y"}])", "message 1: 'content' is missing"},
      {R"([{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}])",
       "message 1: 'content' must be a string, got number"},
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": ["y"]}])",
       "message 2: 'content' must be a string, got array"},
      {R"([{"content": "x"}])", "message 1: 'role' is missing"},
      {R"("not a list")", "expected a list of {\"role\", \"content\"} messages, got string"},
      {R"([])", "the list of messages is empty"},
      {R"([{"role": "user", "content": "x"}])", "no assistant message to train on"},
      {R"([{"role": "user", "content": "x", "reasoning_content": "r"}, {"role": "assistant", "content": "y"}])",
       "message 1: only assistant messages have reasoning_content"},
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "reasoning_content": 1}])",
       "message 2: 'reasoning_content' must be a string"},
      // The distill format opens every answer with <think>: an answer without it cannot be trained
      // as generation would produce it.
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])",
       "message 2: the template renders this assistant turn as 'y<｜end▁of▁sentence｜>', but its generation "
       "prompt ends with '<think>\\n'"},
  };
  for (const auto& [json, want] : cases) {
    const std::string err = error_of([&] { pieces_of(t, json); });
    EXPECT_NE(err.find("rows.jsonl:3: field 'messages'"), std::string::npos) << err;
    EXPECT_NE(err.find(want), std::string::npos) << json << "\n  -> " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  // A template that ignores add_generation_prompt does not say where an answer starts.
  const ChatTemplate no_gen("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}",
                            "plain.jinja");
  const std::string err = error_of([&] {
    pieces_of(no_gen, R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])");
  });
  EXPECT_NE(err.find("the template plain.jinja adds no generation prompt"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}

TEST(ChatMask, ATurnWithoutEndOfTurnTrainsThroughItsLastCharacter) {
  const ChatTemplate t(
      "{% for m in messages %}{{ m.role }}: {{ m.content }}\n\n{% endfor %}{% if add_generation_prompt "
      "%}assistant: "
      "{% endif %}",
      "plain.jinja");
  const auto p =
      pieces_of(t, R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y z"}])");
  ASSERT_EQ(p.size(), 1u);
  ASSERT_EQ(p[0].size(), 2u);
  EXPECT_EQ(p[0][0].text, "user: x\n\nassistant: ");
  EXPECT_EQ(p[0][1].text, "y z");
}
