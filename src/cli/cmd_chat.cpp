// r1 chat: an interactive terminal chat over the rollout engine. Each line read from stdin is a
// user turn; the reply streams token by token, its <think>...</think> part shown apart from the
// answer (dimmed on a terminal, between "[thinking]" and "[answer]" markers otherwise).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/gen_common.h"
#include "core/error.h"
#include "core/stop_signals.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "rollout/think_split.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

struct ChatArgs {
  std::string model_path, templ = "chat", system;
  GenerationConfig gen;
  bool force_think = false, greedy = false;
  double kv_budget_mb = 512;
};

// Writes streamed reply text, setting the <think> part apart (ThinkSplitter finds it).
class ThinkPrinter {
 public:
  ThinkPrinter(std::FILE* out, bool terminal, bool in_think)
      : out_(out), terminal_(terminal), split_(in_think), shown_think_(in_think) {
    if (in_think) open_think();
  }
  void put(const std::string& piece) { show(split_.put(piece)); }
  // `cut`: the reply was stopped; a <think> part it was in is not followed by an answer.
  void finish(bool cut = false) {
    show(split_.finish());
    if (shown_think_ && !cut) close_think();
    if (shown_think_ && cut && terminal_) write("\x1b[0m");
    std::fputc('\n', out_);
    std::fflush(out_);
  }

 private:
  void show(const std::vector<ThinkSplitter::Piece>& pieces) {
    for (const ThinkSplitter::Piece& p : pieces) {
      if (p.reasoning != shown_think_) {
        if (p.reasoning)
          open_think();
        else
          close_think();
        shown_think_ = p.reasoning;
      }
      write(p.text);
    }
  }
  void write(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), out_);
    std::fflush(out_);
  }
  void open_think() { write(terminal_ ? "\x1b[2m" : "[thinking]\n"); }
  void close_think() { write(terminal_ ? "\x1b[0m" : "\n[answer]"); }

  std::FILE* out_;
  bool terminal_;
  ThinkSplitter split_;
  bool shown_think_;  // the last text written was reasoning
};

int run_chat(ChatArgs& a) {
  Model model = load_model(a.model_path);
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(a.model_path);
  const std::optional<ChatTemplate> tmpl = load_prompt_template(a.templ, a.model_path, a.force_think);
  GenerationConfig& g = a.gen;
  g.n = 1;
  g.sampling.greedy = a.greedy;
  g.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  g.stop_ids = stop_ids_of(model, tok.get());
  g.context = model.config().max_position_embeddings;
  Engine engine(model, tok.get(), g);
  ContextFitOptions fo;
  fo.context = g.context;
  fo.max_new_tokens = g.max_new_tokens;
  fo.hint = "the turn is dropped (send a shorter line, or start a new chat)";

  const bool terminal = isatty(STDOUT_FILENO) != 0;
  const bool interactive = isatty(STDIN_FILENO) != 0;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  std::string line;
  int64_t turn = 0;
  bool refused = false;
  for (;;) {
    if (interactive) std::fputs("> ", stdout), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    std::string prompt;
    if (!tmpl) {
      prompt = line;
    } else {
      // r1zero takes one question; chat templates see the whole conversation.
      nlohmann::ordered_json turn_messages = messages;
      if (a.templ == "r1zero") turn_messages = nlohmann::ordered_json::array();
      turn_messages.push_back({{"role", "user"}, {"content", line}});
      ChatOptions opt;
      opt.add_generation_prompt = true;
      opt.force_think = a.force_think;
      prompt = tmpl->render(turn_messages, opt);
    }
    // A turn whose conversation no longer fits the context (or the KV budget) is refused (one
    // line) and dropped; the chat goes on, and ends with status 1.
    std::vector<std::vector<int32_t>> ids = {encode_with_bos(*tok, prompt)};
    ContextFit fit;
    try {
      const bool whole = tmpl && a.templ != "r1zero";  // the prompt holds the conversation so far
      fit = fit_prompts_to_context(ids, fo, [&](size_t) {
        return fmt::format("turn {}{}", turn + 1, whole ? " (the conversation with this line)" : "");
      });
      engine.check(ids);  // the KV budget
    } catch (const Error& e) {
      std::fprintf(stderr, "r1: error: %s\n", e.what());
      refused = true;
      turn++;
      continue;
    }
    if (tmpl) messages.push_back({{"role", "user"}, {"content", line}});
    const bool starts_in_think = ThinkSplitter::starts_in_think(prompt);
    ThinkPrinter printer(stdout, terminal, starts_in_think);
    size_t shown = 0;
    std::string reply;
    // SIGINT (Ctrl-C) stops the reply, keeps what it said, and returns to the prompt; SIGTERM stops
    // it and ends the chat (status 143). At the prompt both end the process as usual. Test hook:
    // R1_TEST_STOP_AFTER=N stops the first reply after N streamed tokens, as SIGINT would.
    const StopSignals signals;
    int64_t streamed = 0;
    const bool first = turn == 0;
    engine.set_stop_check([&] { return signals.raised() || (first && test_stop_requested(streamed)); });
    bool stopped = false;
    try {
      engine.generate(
          ids,
          [&](Completion&& c) {
            printer.put(c.text.substr(shown));
            printer.finish();
            reply = c.text;
            if (c.finish_reason != "length") return;
            if (fit.capped > 0)
              std::fprintf(stderr, "[stopped at the model's context of %lld tokens]\n",
                           static_cast<long long>(g.context));
            else
              std::fprintf(stderr, "[stopped at %d tokens]\n", g.max_new_tokens);
          },
          turn++,
          [&](const Completion& c, int32_t) {
            printer.put(c.text.substr(shown));
            shown = c.text.size();
            reply = c.text;
            streamed++;
          });
    } catch (const GenerationStopped&) {
      printer.finish(true);
      std::fflush(stdout);
      std::fprintf(stderr, "[stopped]\n");
      stopped = true;
    }
    engine.set_stop_check(nullptr);
    if (stopped && signals.signal() == SIGTERM) return 143;
    if (tmpl)
      messages.push_back({{"role", "assistant"}, {"content", (starts_in_think ? "<think>\n" : "") + reply}});
  }
  return refused ? 1 : 0;
}

}  // namespace

void add_chat_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* cmd = app.add_subcommand("chat",
                                     "interactive chat: one user turn per line on stdin, the reply streamed "
                                     "with its <think> part set apart");
  cmd->add_option("--model", a->model_path, "Hugging Face model directory or .gguf file")->required();
  cmd->add_option(
      "--template", a->templ,
      "prompt format: chat (the model's chat template), r1zero, distill, none (the line as is) (chat)");
  cmd->add_option("--system", a->system, "a system message (chat templates)");
  cmd->add_flag("--force-think", a->force_think, "the reply starts with \"<think>\\n\"");
  add_sampling_options(cmd, a->gen, a->greedy, a->kv_budget_mb);
  out.push_back({cmd, [a] { return run_chat(*a); }});
}

}  // namespace r1::cli
