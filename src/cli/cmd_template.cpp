// r1 template: renders a chat template over a conversation and prints the prompt exactly as
// rendered (no newline added), so it can be piped into r1 tokenize.
#include <cctype>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "io/file.h"
#include "io/json.h"
#include "tokenizer/chat_template.h"

namespace r1::cli {

namespace {

using ojson = nlohmann::ordered_json;

struct TemplateArgs {
  std::string tokenizer, messages;
  std::vector<std::string> vars;
  bool add_generation_prompt = false;
  bool force_think = false;
};

// The messages file keeps its key order (tojson in a template prints mappings in that order).
ojson read_messages(const std::string& path) {
  std::string text;
  if (path == "-") {
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) text.append(buf, n);
    if (std::ferror(stdin)) fail("--messages -: cannot read stdin");
  } else {
    text = read_file(path);
  }
  return parse_json<ojson>(text, path == "-" ? "stdin" : path);
}

// NAME=VALUE: VALUE is JSON when it parses as JSON (false, 3, "x", [..]), else the plain string.
void parse_var(const std::string& spec, ojson& extra) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) fail("--set-var: '{}' is not NAME=VALUE", spec);
  const std::string name = spec.substr(0, eq), value = spec.substr(eq + 1);
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      fail("--set-var: '{}' is not a variable name (letters, digits and _)", name);
  check_json_depth(value, "--set-var " + name, JsonText::Line);
  ojson j = parse_json_or_discarded<ojson>(value);
  if (j.is_discarded()) j = value;
  extra[name] = std::move(j);
}

int run_template(const TemplateArgs& a) {
  const ChatTemplate tmpl = ChatTemplate::load(a.tokenizer);
  const ojson doc = read_messages(a.messages);
  ChatOptions opt;
  opt.add_generation_prompt = a.add_generation_prompt;
  opt.force_think = a.force_think;
  for (const auto& v : a.vars) parse_var(v, opt.extra);
  ojson messages = doc;
  if (doc.is_object()) {
    if (!doc.contains("messages"))
      fail("{}: expected a JSON array of messages or an object with \"messages\" (and \"tools\")",
           a.messages);
    messages = doc["messages"];
    if (doc.contains("tools")) opt.tools = doc["tools"];
  }
  const std::string prompt = tmpl.render(messages, opt);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_template_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<TemplateArgs>();
  CLI::App* cmd =
      app.add_subcommand("template", "render a chat template over a conversation; prints the prompt");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "model directory, tokenizer_config.json or .gguf with a chat template, or a built-in: "
                  "r1zero, distill")
      ->required();
  cmd->add_option(
         "--messages", a->messages,
         "JSON file ('-': stdin): [{\"role\": ..., \"content\": ...}, ...], or {\"messages\": [...], "
         "\"tools\": [...]}")
      ->required();
  cmd->add_flag("--add-generation-prompt", a->add_generation_prompt, "end with the assistant turn's opening");
  cmd->add_option("--set-var", a->vars,
                  "template variable NAME=VALUE (VALUE as JSON if it parses, else a string), e.g. "
                  "enable_thinking=false; repeatable");
  cmd->add_flag(
      "--force-think", a->force_think,
      "make the response start with \"<think>\\n\" (appended unless the prompt already ends with it)");
  out.push_back({cmd, [a] { return run_template(*a); }});
}

}  // namespace r1::cli
