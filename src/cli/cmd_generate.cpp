// r1 generate: batched sampling through the rollout engine; one JSON line per sample on stdout,
// progress and throughput on stderr.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/gen_common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/stop_signals.h"
#include "io/jsonl.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {  // "<=" so a trailing comma yields an empty (refused) item
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      fail("--prompt-ids: '{}' is not a token id (expected comma-separated non-negative integers)", item);
    }
    i = j + 1;
  }
  return ids;
}

struct GenerateArgs {
  std::string model_path, prompt, prompt_ids, prompts_file, field = "prompt", templ = "none";
  std::vector<std::string> stops;
  GenerationConfig gen;
  double kv_budget_mb = 1024;
  bool greedy = false, force_think = false, truncate_prompt = false, ignore_eos = false;
  CLI::Option* popt = nullptr;
  CLI::Option* iopt = nullptr;
  CLI::Option* fopt = nullptr;
};

int run_generate(GenerateArgs& a) {
  if (a.popt->count() + a.iopt->count() + a.fopt->count() == 0)
    fail("r1 generate: give --prompt, --prompts or --prompt-ids");
  Model model = load_model(a.model_path);
  std::unique_ptr<Tokenizer> tok;
  try {
    tok = load_tokenizer(a.model_path);
  } catch (const Error&) {
    if (a.iopt->count() == 0) throw;  // text needs the tokenizer; ids do not (text is then null)
  }
  const std::optional<ChatTemplate> tmpl = load_prompt_template(a.templ, a.model_path, a.force_think);

  std::vector<std::vector<int32_t>> prompts;
  std::vector<size_t> lines;  // --prompts: each prompt's line in the file
  if (a.iopt->count() > 0) {
    prompts.push_back(parse_ids(a.prompt_ids));
  } else if (a.popt->count() > 0) {
    prompts.push_back(encode_prompt(a.prompt, *tok, tmpl, a.force_think));
  } else {
    JsonlReader reader(a.prompts_file);
    nlohmann::json row;
    while (reader.next(row)) {
      prompts.push_back(encode_prompt(jsonl_string_field(row, a.field, reader.path(), reader.line()), *tok,
                                      tmpl, a.force_think));
      lines.push_back(reader.line());
    }
    if (prompts.empty()) fail("{}: no prompts (the file has no rows)", a.prompts_file);
  }
  auto prompt_name = [&](size_t i) {
    if (a.iopt->count() > 0) return std::string("--prompt-ids");
    if (a.popt->count() > 0) return std::string("--prompt");
    return fmt::format("--prompts {}:{}", a.prompts_file, lines[i]);
  };
  for (size_t i = 0; i < prompts.size(); i++)
    for (const int32_t id : prompts[i])
      if (id >= model.config().vocab_size)
        fail("prompt token id {} is outside the vocabulary (size {}) in prompt {}", id,
             model.config().vocab_size, i);

  GenerationConfig& g = a.gen;
  g.sampling.greedy = a.greedy;
  g.stop_strings = a.stops;
  g.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  if (!a.ignore_eos) g.stop_ids = stop_ids_of(model, tok.get());
  if (!tok && !g.stop_strings.empty()) fail("--stop needs the model's tokenizer, and none was found");
  g.context = model.config().max_position_embeddings;
  ContextFitOptions fo;
  fo.context = g.context;
  fo.max_new_tokens = g.max_new_tokens;
  fo.policy = a.truncate_prompt ? ContextPolicy::kTruncate : ContextPolicy::kCap;
  fo.bos_id = tok ? tok->bos_id() : -1;
  const ContextFit fit = fit_prompts_to_context(prompts, fo, prompt_name);

  Engine engine(model, tok.get(), g);
  engine.check(prompts);  // errors before the warning: a refused run prints one line
  if (const std::string w = fit.warning(fo); !w.empty()) std::fprintf(stderr, "generate: %s\n", w.c_str());
  const int64_t total = static_cast<int64_t>(prompts.size()) * g.n;
  Progress progress("generate", total);
  int64_t done = 0, new_tokens = 0;
  // SIGINT/SIGTERM stop at the next step (or after the sample being printed): every line printed
  // is complete, and the command exits 130.
  const StopSignals signals;
  engine.set_stop_check([&] { return signals.raised(); });
  try {
    engine.generate(prompts, [&](Completion&& c) {
      nlohmann::ordered_json j;
      j["prompt_index"] = c.prompt_index;
      j["sample_index"] = c.sample_index;
      j["text"] = tok ? nlohmann::ordered_json(c.text) : nlohmann::ordered_json(nullptr);
      j["token_ids"] = c.token_ids;
      j["logprobs"] = c.logprobs;
      j["finish_reason"] = c.finish_reason;
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
      std::fflush(stdout);
      done++;
      new_tokens += static_cast<int64_t>(c.token_ids.size());
      const auto& s = engine.stats();
      progress.update(done,
                      {{"tokens", format_count(static_cast<double>(new_tokens))},
                       {"decode tok/s", format_count(s.decode_tokens / std::max(1e-9, s.forward_seconds))}});
      if (signals.raised() || test_stop_requested(done)) throw GenerationStopped();
    });
  } catch (const GenerationStopped&) {
    progress.finish();
    std::fprintf(stderr,
                 "generate: interrupted after %lld of %lld samples (every line printed is complete)\n",
                 static_cast<long long>(done), static_cast<long long>(total));
    return 130;
  }
  progress.finish();
  const auto& s = engine.stats();
  std::fprintf(
      stderr,
      "generate: %lld samples, %lld prompt tokens, %lld new tokens in %.2f s (%.0f tokens/s; model %.2f s, "
      "%lld forward passes%s)\n",
      static_cast<long long>(s.samples), static_cast<long long>(s.prefill_tokens),
      static_cast<long long>(new_tokens), s.seconds, new_tokens / std::max(1e-9, s.seconds),
      s.forward_seconds, static_cast<long long>(s.steps),
      s.weight_packs > 0 ? fmt::format("; bf16 weight pack {:.3f} s", s.pack_seconds).c_str() : "");
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* gen = app.add_subcommand(
      "generate", "sample from a model (batched, KV cache); one JSON line per sample, progress on stderr");
  gen->add_option("--model", a->model_path, "Hugging Face model directory or .gguf file")->required();
  a->popt = gen->add_option("--prompt", a->prompt, "one prompt (text)");
  a->fopt = gen->add_option("--prompts", a->prompts_file, "JSONL file of prompts, one per row");
  a->iopt = gen->add_option("--prompt-ids", a->prompt_ids,
                            "one prompt as comma-separated token ids, used as given");
  a->popt->excludes(a->iopt)->excludes(a->fopt);
  a->fopt->excludes(a->iopt);
  gen->add_option("--field", a->field, "with --prompts: the row's text field (prompt)");
  gen->add_option(
      "--template", a->templ,
      "prompt format: none (the text as is), chat (the model's chat template, the prompt as a user "
      "message), r1zero, distill (built-ins) (none)");
  gen->add_flag("--force-think", a->force_think, "with --template: the response starts with \"<think>\\n\"");
  gen->add_option("-n", a->gen.n, "samples per prompt (1)")->check(in_range(1, 1 << 16));
  add_sampling_options(gen, a->gen, a->greedy, a->kv_budget_mb);
  gen->add_option("--stop", a->stops, "stop when the text contains STR (repeatable; the text keeps it)");
  gen->add_flag(
      "--ignore-eos", a->ignore_eos,
      "end-of-sequence tokens do not stop a sample (benchmarks: every sample makes --max-new-tokens)");
  gen->add_flag("--truncate-prompt", a->truncate_prompt,
                "cut prompts that leave fewer than --max-new-tokens positions in the model's context to "
                "their last tokens (default: refuse prompts that fill the context, cap the others' samples)");
  gen->add_option("--max-seqs", a->gen.max_seqs, "sequences decoded together at most (256)")
      ->check(in_range(1, 1 << 16));
  out.push_back({gen, [a] { return run_generate(*a); }});
}

}  // namespace r1::cli
