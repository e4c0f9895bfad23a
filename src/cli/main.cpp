// r1: the command-line program. Thin: parses options and calls the library.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/recipe.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "tokenizer/tokenizer.h"
#include "train/lm_trainer.h"

namespace fs = std::filesystem;

namespace {

struct TrainArgs {
  std::string recipe;
  std::vector<std::string> sets;
  std::string resume;
};

void add_train_command(CLI::App& app, const std::string& name, const std::string& help, TrainArgs& a) {
  CLI::App* c = app.add_subcommand(name, help);
  c->add_option("recipe", a.recipe, "TOML recipe (pretrain: the built-in default when omitted)");
  c->add_option("--set", a.sets, "override a recipe key: --set train.lr=1e-3 (repeatable)");
  c->add_option("--resume", a.resume, "continue the run in this directory from its last checkpoint");
}

int run_train(const std::string& mode, const TrainArgs& a) {
  r1::Recipe r;
  if (!a.recipe.empty()) {
    r = r1::Recipe::load(a.recipe);
  } else if (!a.resume.empty()) {
    const fs::path saved = fs::path(a.resume) / "recipe.toml";
    if (!fs::exists(saved)) r1::fail("{}: nothing to resume (no recipe.toml)", a.resume);
    r = r1::Recipe::load(saved.string());
  } else if (mode == "pretrain") {
    r = r1::Recipe::parse(r1::default_pretrain_recipe(), "<built-in pretrain recipe>");
  } else {
    r1::fail("r1 {}: a recipe is required (r1 {} RECIPE.toml)", mode, mode);
  }
  for (const auto& s : a.sets) r.set(s);
  if (!a.resume.empty()) r.set("output.dir=\"" + a.resume + "\"");
  return r1::run_lm_training(mode, std::move(r), !a.resume.empty());
}

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
      r1::fail("--prompt-ids: '{}' is not a token id (expected comma-separated non-negative integers)", item);
    }
    i = j + 1;
  }
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"r1.cpp: DeepSeek-R1-style reasoning training in C++ (pretrain, SFT, generate)"};
  app.require_subcommand(1);
  TrainArgs pre, sft;
  add_train_command(app, "pretrain", "train a language model on text (no arguments: the built-in demo run)",
                    pre);
  add_train_command(app, "sft", "supervised fine-tuning on prompt/completion JSONL (prompt masked)", sft);

  std::string model_path, prompt, prompt_ids;
  int max_new = 64;
  bool greedy = false;
  CLI::App* gen = app.add_subcommand("generate", "greedy decoding from a model; prints one JSON line");
  gen->add_option("--model", model_path, "Hugging Face model directory or .gguf file")->required();
  auto* popt =
      gen->add_option("--prompt", prompt, "prompt text (BOS is prepended when the tokenizer has one)");
  auto* iopt =
      gen->add_option("--prompt-ids", prompt_ids, "prompt as comma-separated token ids, used as given");
  popt->excludes(iopt);
  gen->add_option("--max-new-tokens", max_new, "tokens to generate at most")->check(CLI::Range(0, 1 << 20));
  gen->add_flag("--greedy", greedy, "argmax decoding (the only mode until the sampling engine lands)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors follow the same one-line contract as every other error.
    std::fprintf(stderr, "r1: error: %s (see r1 --help)\n", e.what());
    return 1;
  }
  try {
    if (app.got_subcommand("pretrain")) return run_train("pretrain", pre);
    if (app.got_subcommand("sft")) return run_train("sft", sft);
    if (app.got_subcommand("generate")) {
      if (popt->count() == 0 && iopt->count() == 0) r1::fail("r1 generate: give --prompt or --prompt-ids");
      r1::Model model = r1::load_model(model_path);
      std::unique_ptr<r1::Tokenizer> tok;
      std::vector<int32_t> ids;
      if (iopt->count() > 0) {
        ids = parse_ids(prompt_ids);
        try {
          tok = r1::load_tokenizer(model_path);
        } catch (const r1::Error&) {
          // ids need no tokenizer; the text field is then null
        }
      } else {
        tok = r1::load_tokenizer(model_path);
        if (tok->bos_id() >= 0) ids.push_back(tok->bos_id());
        auto body = tok->encode(prompt);
        ids.insert(ids.end(), body.begin(), body.end());
      }
      for (int32_t id : ids)
        if (id >= model.config().vocab_size)
          r1::fail("prompt token id {} is outside the vocabulary (size {})", id, model.config().vocab_size);
      if (ids.empty()) r1::fail("r1 generate: the prompt is empty");
      auto out = r1::greedy_generate(model, ids, max_new, model.config().eos_token_ids);
      nlohmann::json j;
      j["prompt_ids"] = ids;
      j["token_ids"] = out;
      j["text"] = tok ? nlohmann::json(tok->decode(out)) : nlohmann::json(nullptr);
      const auto& eos = model.config().eos_token_ids;
      const bool stopped = !out.empty() && std::find(eos.begin(), eos.end(), out.back()) != eos.end();
      j["finish_reason"] = stopped ? "stop" : "length";
      std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
