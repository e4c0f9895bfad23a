// Long but legitimate inputs render: the template interpreter's step limit charges what a builtin
// really does, so `messages|length` inside a loop over the messages costs a step (it costs Python
// O(1)), not a pass over the list. A 10,000-message conversation renders with Qwen3's template
// exactly as Python's jinja2 renders it, in the library and through `r1 template`. Hostile
// templates stay bounded (see also Jinja.LimitsBoundHostileTemplates).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "run_r1.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja.h"
#include "tokenizer/jinja_oracle.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using r1::jinja::Limits;
using r1::jinja::Template;
using r1::testing::expect_error;
using r1::testing::scratch_dir;
using r1::testing::write_file;

const std::string kQwen3 = r1::testing::shared_path("models/qwen3-tokenizer");

// n messages: a system prompt, then user and assistant turns (with reasoning, some with tool
// calls answered by tool messages), ending with an assistant answer.
ojson conversation(int n) {
  ojson msgs = ojson::array();
  msgs.push_back({{"role", "system"}, {"content", "You are terse."}});
  for (int i = 1; static_cast<int>(msgs.size()) < n; ++i) {
    const std::string k = std::to_string(i);
    msgs.push_back({{"role", "user"}, {"content", "question " + k}});
    if (i % 50 == 0 && static_cast<int>(msgs.size()) + 2 < n) {
      msgs.push_back(
          {{"role", "assistant"},
           {"content", "<think>\nlook it up\n</think>\n\n"},
           {"tool_calls", ojson::array({{{"function", {{"name", "f"}, {"arguments", {{"x", i}}}}}}})}});
      msgs.push_back({{"role", "tool"}, {"content", "result " + k}});
    }
    if (static_cast<int>(msgs.size()) < n)
      msgs.push_back({{"role", "assistant"}, {"content", "<think>\nr" + k + "\n</think>\n\nanswer " + k}});
  }
  return msgs;
}

}  // namespace

TEST(JinjaLong, LengthFirstLastAndTypeTestsCostAStep) {
  const int n = 10000;
  ojson vars = {{"messages", ojson::array()}};
  for (int i = 0; i < n; ++i) vars["messages"].push_back({{"role", i % 2 ? "assistant" : "user"}, {"i", i}});
  // Each iteration asks for the length, the first and the last item and tests the list: with
  // those charged as a pass over the list this is 10^8 steps; now it is linear.
  Limits limits;
  limits.max_steps = 1'000'000;
  const Template t(
      "{%- for m in messages -%}"
      "{%- if messages is defined and messages is sequence and messages is not string -%}"
      "{{ messages|length - loop.index0 }}{{ (messages|first).role[0] }}{{ (messages|last).i }},"
      "{%- endif -%}"
      "{%- endfor -%}",
      "t", limits);
  std::string want;
  for (int i = 0; i < n; ++i) want += std::to_string(n - i) + "u" + std::to_string(n - 1) + ",";
  EXPECT_EQ(t.render(vars), want);
}

TEST(JinjaLong, WorkThatReadsItsInputIsStillCharged) {
  Limits small;
  small.max_steps = 100000;
  const ojson vars = {{"big", ojson::array()}};
  // A quadratic loop is charged per iteration, cheap body or not.
  expect_error(
      [&] {
        Template(
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ big|length }}{% endfor %}{% endfor "
            "%}",
            "t", small)
            .render(vars);
      },
      {"t:1:", "step limit (100000)"});
  // The length of a string counts its code points: charged by the byte.
  expect_error(
      [&] {
        Template("{% set s = 'x' * 60000 %}{% for i in range(1000) %}{{ s|length }}{% endfor %}", "t", small)
            .render(vars);
      },
      {"step limit"});
  // Filters that read the whole list are charged for it.
  expect_error(
      [&] {
        Template(
            "{% set l = range(10000)|list %}{% for i in range(1000) %}{{ l|join('')|length }}{% endfor %}",
            "t", small)
            .render(vars);
      },
      {"step limit"});
  expect_error(
      [&] {
        Template("{% set l = range(10000)|list %}{% for i in range(1000) %}{{ l|sum }}{% endfor %}", "t",
                 small)
            .render(vars);
      },
      {"step limit"});
}

TEST(JinjaLong, Qwen3TenThousandMessagesMatchJinja2) {
  R1_SKIP_UNLESS_SHARED(kQwen3 + "/tokenizer_config.json");
  const std::string dir = scratch_dir();
  const ojson msgs = conversation(10000);
  ASSERT_EQ(msgs.size(), 10000u);
  ojson items = ojson::array();
  for (bool gen : {false, true})
    items.push_back({{"config", kQwen3 + "/tokenizer_config.json"},
                     {"messages", msgs},
                     {"add_generation_prompt", gen},
                     {"extra", ojson::object()}});
  std::string skip;
  const auto expected = r1::testing::run_jinja2(items, dir, &skip);
  if (!expected) R1_SKIP_WITHOUT_ORACLE(skip);
  ASSERT_EQ(expected->size(), 2u);
  ASSERT_TRUE((*expected)[0].ok) << (*expected)[0].text;
  ASSERT_TRUE((*expected)[1].ok) << (*expected)[1].text;
  const r1::ChatTemplate tmpl = r1::ChatTemplate::load(kQwen3);
  const std::string plain = tmpl.render(msgs);
  EXPECT_GT(plain.size(), 300000u);
  EXPECT_EQ(plain, (*expected)[0].text);
  r1::ChatOptions opt;
  opt.add_generation_prompt = true;
  EXPECT_EQ(tmpl.render(msgs, opt), (*expected)[1].text);

  // The same through the binary.
  const std::string path = write_file(dir + "/long.json", msgs.dump());
  const auto r = r1::testing::run_r1({"template", "--tokenizer", kQwen3, "--messages", path});
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_EQ(r.out, (*expected)[0].text);
}
