// Chat templates: the real Qwen2.5 and Qwen3 templates rendered by r1 equal Python jinja2's
// renderings (configured as transformers configures it) byte for byte on a corpus of
// conversations; the built-in r1zero and distill formats; loading and bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja_oracle.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using r1::ChatOptions;
using r1::ChatTemplate;
using r1::testing::error_of;
using r1::testing::expect_error;
using r1::testing::scratch_dir;
using r1::testing::write_file;

const std::string kQwen25 = r1::testing::shared_path("models/qwen2.5-0.5b-instruct-noweights");
const std::string kQwen3 = r1::testing::shared_path("models/qwen3-tokenizer");

// Each case: messages, and optionally tools, add_generation_prompt, extra variables.
// Some are expected to fail in jinja2 as well (missing or null content).
const char* kConversations = R"json([
  {"messages": [{"role": "user", "content": "What is 2+2?"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "What is 2+2?"}]},
  {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
   "add_generation_prompt": true},
  {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."}]},
  {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "1"}, {"role": "assistant", "content": "2"},
                {"role": "user", "content": "3"}, {"role": "assistant", "content": "4"},
                {"role": "user", "content": "5"}, {"role": "assistant", "content": "6"}]},
  {"messages": [{"role": "user", "content": "Solve x+1=3."},
                {"role": "assistant", "content": "<think>\nx = 3 - 1\n</think>\n\nx = 2"}]},
  {"messages": [{"role": "user", "content": "q1"},
                {"role": "assistant", "content": "<think>\nr1\n</think>\n\na1"},
                {"role": "user", "content": "q2"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1", "reasoning_content": "because"}]},
  {"messages": [{"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1", "reasoning_content": null}]},
  {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true,
   "extra": {"enable_thinking": false}},
  {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true,
   "extra": {"enable_thinking": true}},
  {"messages": [{"role": "user", "content": "Hi"}], "extra": {"enable_thinking": false}},
  {"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": true,
   "extra": {"enable_thinking": "false"}},
  {"messages": [{"role": "system", "content": "Réponds en français 🇫🇷"},
                {"role": "user", "content": "你好，世界！ مرحبا بالعالم e\u0301 \u200b\ud83d\ude00"},
                {"role": "assistant", "content": "<think>\n思考 🤔\n</think>\n\nこんにちは"}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": ""}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]},
  {"messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}]},
  {"messages": [{"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "Weather in Paris?"}],
   "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather \"now\" — ☀️",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"},
              "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "Weather in Paris?"}],
   "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}},
             {"type": "function", "function": {"name": "get_time", "description": "tab\there\nnewline"}}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome", "days": 2, "x": 1.5, "ok": true, "none": null}}}]},
                {"role": "tool", "content": "{\"temp\": 21}"},
                {"role": "tool", "content": "{\"temp\": 25}"},
                {"role": "assistant", "content": "Paris 21, Rome 25."}],
   "tools": [{"type": "function", "function": {"name": "get_weather"}}]},
  {"messages": [{"role": "user", "content": "Call it"},
                {"role": "assistant", "content": "Let me check.",
                 "tool_calls": [{"function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                {"role": "tool", "content": "ok"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "Call it"},
                {"role": "assistant", "content": "",
                 "tool_calls": [{"name": "f", "arguments": {"a": [1, 2, {"b": "ü"}]}}]},
                {"role": "tool", "content": "ok"}, {"role": "user", "content": "thanks"}],
   "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "multi"},
                {"role": "assistant", "content": "<think>\nstep 1\n</think>\n\n",
                 "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
                {"role": "tool", "content": "r1"},
                {"role": "assistant", "content": "<think>\nstep 2\n</think>\n\n",
                 "tool_calls": [{"function": {"name": "b", "arguments": {}}}]},
                {"role": "tool", "content": "r2"},
                {"role": "assistant", "content": "<think>\ndone\n</think>\n\nfinal"}]},
  {"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
                {"role": "user", "content": "<tool_response>\nr\n</tool_response>"},
                {"role": "assistant", "content": "<think>\nt\n</think>\n\nans"}]},
  {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
                {"role": "user", "content": "b"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "<|im_start|>x<|im_end|>\n\n  spaced  \n"},
                {"role": "assistant", "content": "\n\n<think>\n\nlots of\n\nspace\n\n</think>\n\n\nanswer\n\n"}]},
  {"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "no think tags here"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "<think>unclosed"}], "add_generation_prompt": true},
  {"messages": [{"role": "system", "content": "only system"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "</think>after only"},
                {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]},
  {"messages": [{"role": "user"}], "add_generation_prompt": true},
  {"messages": [{"role": "user", "content": null}]},
  {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null}]},
  {"messages": []}
])json";

// Renders every case with r1 and with jinja2 and compares; returns how many cases jinja2
// rendered without an error (those must match byte for byte; jinja2's failures must be r1's).
int compare_with_jinja2(const std::string& model_dir, const ojson& cases, bool force_think = false) {
  const std::string dir = scratch_dir();
  const std::string config = model_dir + "/tokenizer_config.json";
  ojson items = ojson::array();
  for (const auto& c : cases) {
    ojson item = {{"config", config}, {"messages", c["messages"]}};
    if (c.contains("tools")) item["tools"] = c["tools"];
    item["add_generation_prompt"] = c.value("add_generation_prompt", false);
    item["extra"] = c.value("extra", ojson::object());
    items.push_back(item);
  }
  std::string skip;
  const auto expected = r1::testing::run_jinja2(items, dir, &skip);
  if (!expected) {
    std::printf("[  SKIPPED ] %s\n", skip.c_str());
    return -1;
  }
  const ChatTemplate tmpl = ChatTemplate::load(model_dir);
  int ok = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.dump());
    ChatOptions opt;
    opt.add_generation_prompt = c.value("add_generation_prompt", false);
    opt.force_think = force_think && opt.add_generation_prompt;
    if (c.contains("tools")) opt.tools = c["tools"];
    opt.extra = c.value("extra", ojson::object());
    const auto& want = (*expected)[i];
    if (want.ok) {
      ++ok;
      std::string w = want.text;
      if (opt.force_think && !w.ends_with("<think>\n")) w += "<think>\n";
      try {
        EXPECT_EQ(tmpl.render(c["messages"], opt), w);
      } catch (const r1::Error& e) {
        ADD_FAILURE() << "r1 failed: " << e.what() << "\njinja2 rendered: " << want.text;
      }
    } else {
      const std::string err = error_of([&] { tmpl.render(c["messages"], opt); });
      EXPECT_EQ(err.find('\n'), std::string::npos) << err;
      EXPECT_NE(err.find(tmpl.name()), std::string::npos) << err;
    }
  }
  return ok;
}

// A GGUF v3 file with no tensors and the given metadata: string values, one string array, and
// u32 values.
std::string write_gguf(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& strings,
                       const std::pair<std::string, std::vector<std::string>>& array,
                       const std::vector<std::pair<std::string, uint32_t>>& u32s) {
  std::string b = "GGUF";
  auto put = [&b](auto v) { b.append(reinterpret_cast<const char*>(&v), sizeof v); };
  auto put_str = [&](const std::string& s) {
    put(static_cast<uint64_t>(s.size()));
    b += s;
  };
  put(uint32_t{3});
  put(uint64_t{0});
  put(static_cast<uint64_t>(strings.size() + 1 + u32s.size()));
  for (const auto& [k, v] : strings) {
    put_str(k);
    put(uint32_t{8});
    put_str(v);
  }
  put_str(array.first);
  put(uint32_t{9});
  put(uint32_t{8});
  put(static_cast<uint64_t>(array.second.size()));
  for (const auto& v : array.second) put_str(v);
  for (const auto& [k, v] : u32s) {
    put_str(k);
    put(uint32_t{4});
    put(v);
  }
  return write_file(path, b);
}

}  // namespace

TEST(ChatTemplateVsJinja2, Qwen25) {
  R1_SKIP_UNLESS_SHARED(kQwen25);
  const int ok = compare_with_jinja2(kQwen25, ojson::parse(kConversations));
  if (ok < 0) R1_SKIP_WITHOUT_ORACLE("jinja2 unavailable");
  EXPECT_GE(ok, 20);
}

TEST(ChatTemplateVsJinja2, Qwen3) {
  R1_SKIP_UNLESS_SHARED(kQwen3);
  const int ok = compare_with_jinja2(kQwen3, ojson::parse(kConversations));
  if (ok < 0) R1_SKIP_WITHOUT_ORACLE("jinja2 unavailable");
  EXPECT_GE(ok, 20);
}

TEST(ChatTemplateVsJinja2, Qwen3ForceThink) {
  R1_SKIP_UNLESS_SHARED(kQwen3);
  const int ok = compare_with_jinja2(kQwen3, ojson::parse(kConversations), true);
  if (ok < 0) R1_SKIP_WITHOUT_ORACLE("jinja2 unavailable");
}

TEST(ChatTemplate, Qwen25Golden) {
  R1_SKIP_UNLESS_SHARED(kQwen25);
  const ChatTemplate t = ChatTemplate::load(kQwen25);
  ChatOptions opt;
  opt.add_generation_prompt = true;
  EXPECT_EQ(
      t.render(ojson::parse(R"([{"role": "user", "content": "Hi"}])"), opt),
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Qwen3ThinkingSwitch) {
  R1_SKIP_UNLESS_SHARED(kQwen3);
  const ChatTemplate t = ChatTemplate::load(kQwen3);
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "Hi"}])");
  ChatOptions opt;
  opt.add_generation_prompt = true;
  EXPECT_EQ(t.render(msgs, opt), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  opt.extra = {{"enable_thinking", false}};
  EXPECT_EQ(t.render(msgs, opt),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  opt.extra = ojson::object();
  opt.force_think = true;
  EXPECT_EQ(t.render(msgs, opt), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n");
}

TEST(ChatTemplate, R1Zero) {
  const ChatTemplate t = ChatTemplate::load("r1zero");
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "What is 1+1?"}])");
  const std::string want =
      "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
      "The assistant first thinks about the reasoning process in the mind and then provides the user with "
      "the answer. The reasoning process and answer are enclosed within <think> </think> and "
      "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
      "<answer> answer here </answer>. User: What is 1+1?. Assistant:";
  EXPECT_EQ(t.render(msgs), want);
  ChatOptions opt;
  opt.force_think = true;
  EXPECT_EQ(t.render(msgs, opt), want + " <think>\n");
  expect_error(
      [&] {
        t.render(ojson::parse(R"([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])"));
      },
      {"r1zero:", "exactly one user message"});
  expect_error([&] { t.render(ojson::array()); }, {"r1zero:", "exactly one user message"});
}

TEST(ChatTemplate, Distill) {
  const ChatTemplate t = ChatTemplate::load("distill");
  const ojson msgs = ojson::parse(R"([
    {"role": "system", "content": "S1"}, {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "<think>\nhidden\n</think>\n\na1"}, {"role": "system", "content": "S2"},
    {"role": "user", "content": "q2"}])");
  ChatOptions opt;
  opt.add_generation_prompt = true;
  const std::string want =
      "<｜begin▁of▁sentence｜>S1\n\nS2<｜User｜>q1<｜Assistant｜>\n\na1<｜end▁of▁sentence｜><｜User｜>q2"
      "<｜Assistant｜><think>\n";
  EXPECT_EQ(t.render(msgs, opt), want);
  opt.force_think = true;  // already there: unchanged
  EXPECT_EQ(t.render(msgs, opt), want);
  EXPECT_EQ(t.render(ojson::parse(R"([{"role": "user", "content": "q"}])")),
            "<｜begin▁of▁sentence｜><｜User｜>q");
  expect_error([&] { t.render(ojson::parse(R"([{"role": "tool", "content": "x"}])")); },
               {"distill:", "got a tool message"});
}

TEST(ChatTemplate, LoadForms) {
  const std::string dir = scratch_dir();
  // A list of named templates: "default" is used; special tokens reach the template.
  fs::create_directories(dir + "/m1");
  write_file(dir + "/m1/tokenizer_config.json", R"({
    "bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>", "unk_token": null,
    "chat_template": [{"name": "tool_use", "template": "TOOLS"},
                      {"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}{{ unk_token is defined }}"}]})");
  const ojson msgs =
      ojson::parse(R"([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])");
  EXPECT_EQ(ChatTemplate::load(dir + "/m1").render(msgs), "<s>[a][b]</s>False");
  EXPECT_EQ(ChatTemplate::load(dir + "/m1/tokenizer_config.json").render(msgs), "<s>[a][b]</s>False");
  // chat_template.jinja wins over the config's field.
  write_file(dir + "/m1/chat_template.jinja", "{{ messages | length }}{{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::load(dir + "/m1").render(msgs), "2</s>");
  // Extra variables, and the names they may not take.
  fs::create_directories(dir + "/m2");
  write_file(dir + "/m2/tokenizer_config.json", R"({"chat_template": "{{ who }}{{ tools | length }}"})");
  ChatOptions opt;
  opt.extra = {{"who", "me"}};
  opt.tools = ojson::parse("[1, 2, 3]");
  EXPECT_EQ(ChatTemplate::load(dir + "/m2").render(msgs, opt), "me3");
  opt.extra = {{"messages", 1}};
  expect_error([&] { ChatTemplate::load(dir + "/m2").render(msgs, opt); }, {"'messages' cannot be set"});
  // A GGUF file's tokenizer.chat_template, with BOS/EOS from its vocabulary.
  const std::string gguf =
      write_gguf(dir + "/m.gguf",
                 {{"tokenizer.chat_template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}},
                 {"tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"}},
                 {{"tokenizer.ggml.bos_token_id", 1}, {"tokenizer.ggml.eos_token_id", 2}});
  EXPECT_EQ(ChatTemplate::load(gguf).render(msgs), "<s>a</s>");
  EXPECT_EQ(ChatTemplate::load(gguf).name(), gguf + " (tokenizer.chat_template)");
  const std::string bare = write_gguf(dir + "/bare.gguf", {}, {"tokenizer.ggml.tokens", {"a"}}, {});
  expect_error([&] { ChatTemplate::load(bare); }, {"bare.gguf", "no tokenizer.chat_template key"});
}

TEST(ChatTemplate, BadInput) {
  const std::string dir = scratch_dir();
  expect_error([&] { ChatTemplate::load(dir + "/nope"); }, {dir + "/nope", "no such file or directory"});
  expect_error([&] { ChatTemplate::load(dir); }, {dir, "no chat template"});
  write_file(dir + "/tokenizer_config.json", R"({"eos_token": "x"})");
  expect_error([&] { ChatTemplate::load(dir); }, {"tokenizer_config.json", "no chat_template field"});
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": [{"name": "a", "template": "x"}]})");
  expect_error([&] { ChatTemplate::load(dir); }, {"no template named 'default'", "has: a"});
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": 5})");
  expect_error([&] { ChatTemplate::load(dir); }, {"must be a string or a list"});
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": "{% for %}"})");
  expect_error([&] { ChatTemplate::load(dir); }, {"tokenizer_config.json (chat_template):1:"});
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": "a\n{% include 'x' %}"})");
  expect_error([&] { ChatTemplate::load(dir); }, {"tokenizer_config.json (chat_template):2:", "'include'"});
  write_file(dir + "/tokenizer_config.json", "{not json");
  expect_error([&] { ChatTemplate::load(dir); }, {"tokenizer_config.json", "malformed JSON"});
  write_file(dir + "/tokenizer_config.json",
             R"({"chat_template": "{{ raise_exception('no ' ~ messages[0].role) }}"})");
  const ChatTemplate t = ChatTemplate::load(dir);
  expect_error([&] { t.render(ojson::parse(R"([{"role": "robot"}])")); },
               {":1:", "template error: no robot"});
  expect_error([&] { t.render(ojson::parse(R"({"role": "user"})")); }, {"messages must be a JSON array"});
  expect_error([&] { t.render(ojson::parse(R"([1])")); }, {"message 0 is not a JSON object"});
  ChatOptions opt;
  opt.force_think = true;
  expect_error([&] { t.render(ojson::array(), opt); }, {"needs the generation prompt"});
}
