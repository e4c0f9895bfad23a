// Time-bounded fuzzing of the Jinja interpreter (parse and render): real chat templates mutated
// by deleting, duplicating and splicing ranges, inserting Jinja syntax and flipping bytes, then
// rendered over a conversation with tools and tool calls. Every outcome must be a rendering or
// a one-line r1::Error naming the template: never a crash, a hang, a leak or undefined
// behaviour (run it under the sanitizers: scripts/test.sh does). R1_JINJA_FUZZ_SECONDS sets the
// time (default 2).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/file.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"

namespace {

using ojson = nlohmann::ordered_json;

// Syntax the mutator inserts (libFuzzer-dictionary style).
const std::vector<std::string> kTokens = {"{{",
                                          "}}",
                                          "{%",
                                          "%}",
                                          "{#",
                                          "#}",
                                          "{%-",
                                          "-%}",
                                          "{{-",
                                          "-}}",
                                          "{%+",
                                          "+%}",
                                          "{% raw %}",
                                          "{% endraw %}",
                                          "{% if x %}",
                                          "{% elif",
                                          "{% else %}",
                                          "{% endif %}",
                                          "{% for m in messages %}",
                                          "{% endfor %}",
                                          "{% break %}",
                                          "{% continue %}",
                                          "{% set ns = namespace(a=1) %}",
                                          "{% set x %}",
                                          "{% endset %}",
                                          "{% macro f(a, b=2) %}",
                                          "{% endmacro %}",
                                          "{{ f(1) }}",
                                          "{% filter upper %}",
                                          "{% endfilter %}",
                                          "{% with y = 1 %}",
                                          "{% endwith %}",
                                          "{% generation %}",
                                          "{% endgeneration %}",
                                          "loop.index0",
                                          "loop.last",
                                          "loop.cycle(1, 2)",
                                          "messages",
                                          "message.content",
                                          "messages[-1]",
                                          " not ",
                                          " and ",
                                          " or ",
                                          " is ",
                                          " defined",
                                          " none",
                                          " string",
                                          " mapping",
                                          " sequence",
                                          "true",
                                          "false",
                                          "|tojson",
                                          "|length",
                                          "|join(",
                                          "|trim",
                                          "|map(attribute='role')",
                                          "|selectattr('role', 'equalto', 'user')",
                                          "|default(",
                                          "|items",
                                          "|list",
                                          "|replace('a', 'bb')",
                                          "|sort",
                                          ".split(",
                                          ".strip(",
                                          ".startswith(",
                                          "[::-1]",
                                          "[-1]",
                                          "[1:]",
                                          "range(",
                                          "raise_exception(",
                                          "~",
                                          "**",
                                          "//",
                                          "==",
                                          "!=",
                                          "(",
                                          ")",
                                          "[",
                                          "]",
                                          "{",
                                          "}",
                                          ",",
                                          ":",
                                          "'",
                                          "\"",
                                          "\\",
                                          "1e308",
                                          "-9223372036854775808",
                                          "99999999999",
                                          "\n",
                                          " ",
                                          "ns.a",
                                          "x * 1000",
                                          "'ab' * 100000"};

// A small template of our own when ../shared is absent.
const char* kFallbackTemplate =
    "{%- set ns = namespace(last=-1) -%}{%- for m in messages %}{%- if m.role == 'user' %}"
    "{%- set ns.last = loop.index0 %}{%- endif %}{{ '<|' ~ m.role ~ '|>\\n' ~ (m.content or '') "
    "| trim }}{%- if m.tool_calls is defined %}{{ m.tool_calls | tojson }}{%- endif %}\n"
    "{%- endfor %}{%- if add_generation_prompt %}<|assistant|>\n{%- endif %}";

std::vector<std::string> seed_templates() {
  std::vector<std::string> seeds = {kFallbackTemplate};
  for (const char* rel : {"models/qwen2.5-0.5b-instruct-noweights", "models/qwen3-tokenizer"}) {
    const std::string dir = r1::testing::shared_path(rel);
    if (!std::filesystem::exists(dir + "/tokenizer_config.json")) continue;
    const ojson cfg = ojson::parse(r1::read_file(dir + "/tokenizer_config.json"));
    if (cfg.contains("chat_template") && cfg["chat_template"].is_string())
      seeds.push_back(cfg["chat_template"].get<std::string>());
  }
  return seeds;
}

const ojson kVars = ojson::parse(R"({
  "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "héllo <think>x</think>"},
               {"role": "assistant", "content": "<think>\nr\n</think>\n\na", "reasoning_content": "r",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
               {"role": "tool", "content": "ok"}, {"role": "user", "content": ""}],
  "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
  "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false,
  "x": 1, "y": "yy"})");

std::string mutate(const std::vector<std::string>& seeds, std::mt19937& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int edits = 1 + static_cast<int>(rng() % 6);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    const size_t len = 1 + rng() % 40;
    switch (rng() % 6) {
      case 0:  // delete a range
        s.erase(pos, len);
        break;
      case 1:  // duplicate a range
        s.insert(pos, s.substr(pos, len));
        break;
      case 2: {  // splice a range of another seed
        const std::string& o = seeds[rng() % seeds.size()];
        const size_t at = rng() % (o.size() + 1);
        s.insert(pos, o.substr(at, len));
        break;
      }
      case 3:  // flip a byte
        if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng() & 0xFF);
        break;
      default:  // insert syntax
        s.insert(pos, kTokens[rng() % kTokens.size()]);
    }
  }
  return s;
}

}  // namespace

TEST(JinjaFuzz, MutatedTemplatesRenderOrFailCleanly) {
  const char* env = std::getenv("R1_JINJA_FUZZ_SECONDS");
  const double seconds = env ? std::atof(env) : 2.0;
  const auto seeds = seed_templates();
  if (seeds.size() == 1)
    std::printf("JinjaFuzz: %s is absent, fuzzing the fallback template only\n",
                r1::testing::shared_dir().c_str());
  r1::jinja::Limits limits;
  limits.max_output_bytes = size_t{1} << 20;
  limits.max_steps = 200'000;
  limits.max_depth = 64;
  std::mt19937 rng(7);
  size_t cases = 0, rendered = 0;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    const std::string src = mutate(seeds, rng);
    ++cases;
    try {
      const r1::jinja::Template t(src, "fuzz.jinja", limits);
      const std::string out = t.render(kVars);
      ASSERT_LE(out.size(), limits.max_output_bytes);
      ++rendered;
    } catch (const r1::Error& e) {
      const std::string msg = e.what();
      ASSERT_EQ(msg.rfind("fuzz.jinja", 0), 0u) << msg;
      ASSERT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
  // The unmutated seeds render through the chat-template front end too.
  for (const auto& s : seeds) EXPECT_NO_THROW(r1::ChatTemplate(s, "seed").render(kVars["messages"]));
  std::printf("JinjaFuzz: %zu templates in %.0f s, %zu rendered, the rest failed cleanly\n", cases, seconds,
              rendered);
  EXPECT_GT(rendered, 0u);
}
