#include "train/chat_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/strings.h"
#include "rollout/prompts.h"

namespace r1 {

using ojson = nlohmann::ordered_json;

namespace {

// "'<|im_start|>assistant\n'" for an error message: the text quoted, newlines escaped, cut short.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, std::min<size_t>(s.size(), 60)))
    out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out + (s.size() > 60 ? "...'" : "'");
}

// The length of the trained part of an answer's text: through its last end-of-turn string, else
// through its last non-blank byte.
size_t trained_length(std::string_view answer, const std::vector<std::string>& end_of_turn) {
  size_t end = std::string_view::npos;
  for (const std::string& e : end_of_turn) {
    if (e.empty()) continue;
    const size_t at = answer.rfind(e);
    if (at != std::string_view::npos && (end == std::string_view::npos || at + e.size() > end))
      end = at + e.size();
  }
  if (end != std::string_view::npos) return end;
  size_t n = answer.size();
  while (n > 0 && is_ascii_space(answer[n - 1])) n--;
  return n;
}

}  // namespace

std::vector<std::vector<TextPiece>> conversation_pieces(const ChatTemplate& tmpl, const ojson& messages,
                                                        const ChatSequenceOptions& opt,
                                                        const std::string& where) {
  std::vector<size_t> remaining;  // assistant turns not yet placed in a sequence, ascending
  for (size_t i = opt.first_trained; i < messages.size(); i++)
    if (messages[i].value("role", "") == "assistant") remaining.push_back(i);
  if (remaining.empty()) fail("{}: no assistant message to train on", where);

  auto render = [&](size_t n, bool gen) {
    ChatOptions o = opt.chat;
    o.add_generation_prompt = gen;
    o.force_think = false;
    const ojson prefix(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      return tmpl.render(prefix, o);
    } catch (const Error& e) {
      fail("{}: {}", where, e.what());
    }
  };
  // Per turn: where its answer starts (|P_a|) and the answer's trained text (Q_a past P_a).
  struct Turn {
    std::string prompt, answer;
  };
  std::map<size_t, Turn> turns;
  for (size_t a : remaining) {
    Turn t;
    t.prompt = render(a, true);
    if (t.prompt == render(a, false))
      fail(
          "{}: the template {} adds no generation prompt (add_generation_prompt changes nothing), so it "
          "does not mark where an answer starts; use a chat template that has one",
          where, tmpl.name());
    const std::string full = render(a + 1, false);
    if (!full.starts_with(t.prompt)) {
      size_t common = 0;
      while (common < full.size() && common < t.prompt.size() && full[common] == t.prompt[common]) common++;
      fail(
          "{}: message {}: the template renders this assistant turn as {}, but its generation prompt ends "
          "with {}: the answer must start the way generation starts it",
          where, a + 1, quoted(std::string_view(full).substr(common)),
          quoted(std::string_view(t.prompt).substr(common)));
    }
    const std::string_view answer = std::string_view(full).substr(t.prompt.size());
    t.answer = std::string(answer.substr(0, trained_length(answer, opt.end_of_turn)));
    if (t.answer.empty())
      fail("{}: message {}: the assistant turn renders as nothing to train on", where, a + 1);
    turns.emplace(a, std::move(t));
  }

  std::vector<std::vector<TextPiece>> sequences;
  while (!remaining.empty()) {
    const std::string text = render(remaining.back() + 1, false);
    std::vector<TextPiece> pieces;
    size_t pos = 0;  // end of what the pieces cover so far
    std::vector<size_t> later;
    for (size_t a : remaining) {
      const Turn& t = turns.at(a);
      const size_t start = t.prompt.size();
      const bool placed =
          start >= pos && text.starts_with(t.prompt) && text.compare(start, t.answer.size(), t.answer) == 0;
      if (!placed) {
        later.push_back(a);
        continue;
      }
      if (start > pos) pieces.push_back({text.substr(pos, start - pos), false});
      pieces.push_back({t.answer, true});
      pos = start + t.answer.size();
    }
    // The last turn always sits in its own rendering, so every pass places at least one turn.
    R1_CHECK(later.size() < remaining.size());
    sequences.push_back(std::move(pieces));
    remaining = std::move(later);
  }
  std::reverse(sequences.begin(), sequences.end());  // the earliest turns first
  return sequences;
}

TokenizedPieces tokenize_pieces(const std::vector<TextPiece>& pieces, const Tokenizer& tok) {
  TokenizedPieces out;
  for (const TextPiece& p : pieces) {
    // BOS as generation's prompts have it (the first token is never a target, so its flag is moot).
    const std::vector<int32_t> ids = out.tokens.empty() ? encode_with_bos(tok, p.text) : tok.encode(p.text);
    out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
    out.trained.insert(out.trained.end(), ids.size(), p.trained ? 1 : 0);
  }
  return out;
}

ojson training_messages(const nlohmann::json& list, const ChatTemplate& tmpl, const std::string& where) {
  if (!list.is_array())
    fail("{}: expected a list of {{\"role\", \"content\"}} messages, got {}", where, list.type_name());
  if (list.empty()) fail("{}: the list of messages is empty", where);
  ojson out = ojson::array();
  const bool renders_reasoning = tmpl.source().find("reasoning_content") != std::string::npos;
  for (size_t i = 0; i < list.size(); i++) {
    const std::string w = fmt::format("{} message {}", where, i + 1);
    check_message(list[i], w, /*tool_calls_may_omit_content=*/true);
    ojson m = ojson::parse(list[i].dump());
    if (!m.contains("content") || m["content"].is_null()) m["content"] = "";
    const auto rc = m.find("reasoning_content");
    if (rc != m.end() && !rc->is_null()) {
      if (m["role"] != "assistant") fail("{}: only assistant messages have reasoning_content", w);
      if (!rc->is_string()) fail("{}: 'reasoning_content' must be a string, got {}", w, rc->type_name());
      if (!renders_reasoning) {
        m["content"] =
            "<think>\n" + rc->get<std::string>() + "\n</think>\n\n" + m["content"].get<std::string>();
        m.erase("reasoning_content");
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace r1
