#include "tokenizer/chat_template.h"

#include <filesystem>

#include "core/error.h"
#include "io/encoding.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/json.h"

namespace r1 {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// R1-NOTES.md section 3 (Table 1 of the paper), one paragraph.
constexpr std::string_view kR1ZeroTemplate =
    "{%- if messages | length != 1 or messages[0].role != 'user' -%}\n"
    "{{ raise_exception('the r1zero template takes exactly one user message') }}\n"
    "{%- endif -%}\n"
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>. User: {{ messages[0].content }}. Assistant:";

// The DeepSeek-R1-Distill format for system, user and assistant turns: system prompts joined by
// blank lines after BOS, earlier answers without their reasoning, "<think>\n" opening the answer.
constexpr std::string_view kDistillTemplate =
    "{%- set ns = namespace(system='', first=true) -%}\n"
    "{%- for m in messages if m.role == 'system' -%}\n"
    "  {%- set ns.system = m.content if ns.first else ns.system + '\\n\\n' + m.content -%}\n"
    "  {%- set ns.first = false -%}\n"
    "{%- endfor -%}\n"
    "{{ bos_token }}{{ ns.system }}\n"
    "{%- for m in messages -%}\n"
    "  {%- if m.role == 'user' -%}\n"
    "    {{ '<｜User｜>' + m.content }}\n"
    "  {%- elif m.role == 'assistant' and m.tool_calls is not defined -%}\n"
    "    {%- set content = m.content -%}\n"
    "    {%- if '</think>' in content and not loop.last -%}{%- set content = content.split('</think>')[-1] "
    "-%}"
    "{%- endif -%}\n"
    "    {{ '<｜Assistant｜>' + content + eos_token }}\n"
    "  {%- elif m.role != 'system' -%}\n"
    "    {{ raise_exception('the distill template supports system, user and assistant messages without "
    "tool calls; got a ' ~ m.role ~ ' message' ~ (' with tool calls' if m.tool_calls is defined else '')) "
    "}}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}{{ '<｜Assistant｜><think>\\n' }}{%- endif -%}";

constexpr std::string_view kThink = "<think>\n";

// transformers' special_tokens_map: the special tokens that are set, as strings (an
// AddedToken dict gives its content).
ojson special_tokens_map(const nlohmann::json& config) {
  static constexpr const char* kKeys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};
  auto content = [](const nlohmann::json& t) -> nlohmann::json {
    if (t.is_object()) return t.contains("content") ? t["content"] : nlohmann::json();
    return t;
  };
  ojson out = ojson::object();
  for (const char* k : kKeys) {
    if (!config.contains(k)) continue;
    const nlohmann::json v = content(config[k]);
    if (v.is_string() && !v.get<std::string>().empty()) out[k] = v.get<std::string>();
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    ojson list = ojson::array();
    for (const auto& t : config["additional_special_tokens"]) {
      const nlohmann::json v = content(t);
      if (v.is_string()) list.push_back(v.get<std::string>());
    }
    if (!list.empty()) out["additional_special_tokens"] = list;
  }
  return out;
}

// The chat_template field: a string, or a list of {name, template} (the "default" one).
std::string template_field(const nlohmann::json& config, const std::string& path) {
  if (!config.is_object() || !config.contains("chat_template"))
    fail("{}: no chat template (no chat_template field)", path);
  const auto& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array()) fail("{}: chat_template must be a string or a list of {{name, template}}", path);
  std::string names;
  for (const auto& e : t) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") ||
        !e["template"].is_string())
      fail("{}: chat_template list entries must be {{\"name\": string, \"template\": string}}", path);
    if (e["name"] == "default") return e["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
  }
  fail("{}: chat_template has no template named 'default' (has: {})", path, names);
}

ChatTemplate from_gguf(const std::string& path) {
  const GGUFFile f(path);
  const auto& md = f.metadata();
  if (!md.contains("tokenizer.chat_template") || !md["tokenizer.chat_template"].is_string())
    fail("{}: no chat template (no tokenizer.chat_template key)", path);
  ojson special = ojson::object();
  if (md.contains("tokenizer.ggml.tokens") && md["tokenizer.ggml.tokens"].is_array()) {
    const auto& tokens = md["tokenizer.ggml.tokens"];
    for (const auto& [key, name] : {std::pair{"tokenizer.ggml.bos_token_id", "bos_token"},
                                    std::pair{"tokenizer.ggml.eos_token_id", "eos_token"}}) {
      if (!md.contains(key) || !md[key].is_number_integer()) continue;
      const auto id = md[key].get<int64_t>();
      if (id >= 0 && static_cast<size_t>(id) < tokens.size() && tokens[static_cast<size_t>(id)].is_string())
        special[name] = tokens[static_cast<size_t>(id)].get<std::string>();
    }
  }
  return ChatTemplate(md["tokenizer.chat_template"].get<std::string>(), path + " (tokenizer.chat_template)",
                      std::move(special));
}

}  // namespace

void check_message(const nlohmann::json& m, const std::string& where, bool tool_calls_may_omit_content) {
  if (!m.is_object()) fail("{}: expected an object with role and content, got {}", where, m.type_name());
  const auto role = m.find("role");
  if (role == m.end()) fail("{}: 'role' is missing", where);
  if (!role->is_string()) fail("{}: 'role' must be a string, got {}", where, role->type_name());
  const std::string r = role->get<std::string>();
  if (r != "system" && r != "user" && r != "assistant" && r != "tool")
    fail("{}: unknown role '{}' (system, user, assistant or tool)", where, r);
  const auto content = m.find("content");
  const bool may_omit = tool_calls_may_omit_content && r == "assistant" && m.contains("tool_calls");
  if (may_omit && (content == m.end() || content->is_null())) return;
  if (content == m.end()) fail("{}: 'content' is missing", where);
  if (!content->is_string()) fail("{}: 'content' must be a string, got {}", where, content->type_name());
}

ChatTemplate::ChatTemplate(std::string_view source, std::string name, ojson special_tokens)
    : source_(source), tmpl_(source, std::move(name)), special_(std::move(special_tokens)) {
  if (!special_.is_object()) fail("{}: special tokens must be a JSON object", tmpl_.name());
}

ChatTemplate ChatTemplate::load(const std::string& path) {
  if (path == "r1zero") {
    ChatTemplate t(kR1ZeroTemplate, "r1zero");
    t.r1zero_ = true;
    return t;
  }
  if (path == "distill")
    return ChatTemplate(
        kDistillTemplate, "distill",
        ojson{{"bos_token", "<｜begin▁of▁sentence｜>"}, {"eos_token", "<｜end▁of▁sentence｜>"}});
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string config_path = (fs::path(path) / "tokenizer_config.json").string();
    const std::string jinja_path = (fs::path(path) / "chat_template.jinja").string();
    const bool has_config = fs::is_regular_file(config_path, ec);
    const nlohmann::json config = has_config ? read_json_file(config_path) : nlohmann::json::object();
    // transformers prefers a chat_template.jinja file to the tokenizer_config.json field.
    if (fs::is_regular_file(jinja_path, ec))
      return ChatTemplate(read_text_file(jinja_path), jinja_path, special_tokens_map(config));
    if (!has_config)
      fail("{}: no chat template (neither chat_template.jinja nor tokenizer_config.json)", path);
    return ChatTemplate(template_field(config, config_path), config_path + " (chat_template)",
                        special_tokens_map(config));
  }
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return from_gguf(path);
  if (!fs::exists(path, ec))
    fail(
        "{}: no such file or directory (expected a model directory, a tokenizer_config.json, a .gguf, "
        "or a built-in template: r1zero, distill)",
        path);
  const nlohmann::json config = read_json_file(path);
  return ChatTemplate(template_field(config, path), path + " (chat_template)", special_tokens_map(config));
}

std::string ChatTemplate::special_token(const std::string& key) const {
  const auto it = special_.find(key);
  return it != special_.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string ChatTemplate::render(const ojson& messages, const ChatOptions& opt) const {
  if (!messages.is_array())
    fail("{}: messages must be a JSON array of {{\"role\", \"content\"}} objects", name());
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].is_object()) fail("{}: message {} is not a JSON object", name(), i);
  if (!opt.extra.is_object()) fail("{}: extra template variables must be a JSON object", name());
  if (opt.force_think && !opt.add_generation_prompt && !r1zero_)
    fail("{}: forcing the response to start with <think> needs the generation prompt", name());
  ojson vars = ojson::object();
  vars["messages"] = messages;
  vars["tools"] = opt.tools;
  vars["documents"] = nullptr;
  vars["add_generation_prompt"] = opt.add_generation_prompt;
  for (auto it = special_.begin(); it != special_.end(); ++it) vars[it.key()] = it.value();
  for (auto it = opt.extra.begin(); it != opt.extra.end(); ++it) {
    const std::string& k = it.key();
    if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt")
      fail("{}: '{}' cannot be set as an extra template variable", name(), k);
    vars[k] = it.value();
  }
  std::string out = tmpl_.render(vars);
  if (opt.force_think && !out.ends_with(kThink)) {
    // R1-Zero's prompt ends with "Assistant:"; its answers read "Assistant: <think> ...".
    if (r1zero_) out += ' ';
    out += kThink;
  }
  return out;
}

}  // namespace r1
