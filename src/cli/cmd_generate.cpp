// r1 generate: greedy decoding from a model; one JSON line out.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/generate.h"
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
  std::string model_path, prompt, prompt_ids;
  int max_new = 64;
  bool greedy = false;
  CLI::Option* popt = nullptr;
  CLI::Option* iopt = nullptr;
};

int run_generate(const GenerateArgs& a) {
  if (a.popt->count() == 0 && a.iopt->count() == 0) fail("r1 generate: give --prompt or --prompt-ids");
  Model model = load_model(a.model_path);
  std::unique_ptr<Tokenizer> tok;
  std::vector<int32_t> ids;
  if (a.iopt->count() > 0) {
    ids = parse_ids(a.prompt_ids);
    try {
      tok = load_tokenizer(a.model_path);
    } catch (const Error&) {
      // ids need no tokenizer; the text field is then null
    }
  } else {
    tok = load_tokenizer(a.model_path);
    if (tok->bos_id() >= 0) ids.push_back(tok->bos_id());
    auto body = tok->encode(a.prompt);
    ids.insert(ids.end(), body.begin(), body.end());
  }
  for (int32_t id : ids)
    if (id >= model.config().vocab_size)
      fail("prompt token id {} is outside the vocabulary (size {})", id, model.config().vocab_size);
  if (ids.empty()) fail("r1 generate: the prompt is empty");
  auto out = greedy_generate(model, ids, a.max_new, model.config().eos_token_ids);
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

}  // namespace

void add_generate_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* gen = app.add_subcommand("generate", "greedy decoding from a model; prints one JSON line");
  gen->add_option("--model", a->model_path, "Hugging Face model directory or .gguf file")->required();
  a->popt =
      gen->add_option("--prompt", a->prompt, "prompt text (BOS is prepended when the tokenizer has one)");
  a->iopt =
      gen->add_option("--prompt-ids", a->prompt_ids, "prompt as comma-separated token ids, used as given");
  a->popt->excludes(a->iopt);
  gen->add_option("--max-new-tokens", a->max_new, "tokens to generate at most")
      ->check(CLI::Range(0, 1 << 20));
  gen->add_flag("--greedy", a->greedy, "argmax decoding (the only mode until the sampling engine lands)");
  out.push_back({gen, [a] { return run_generate(*a); }});
}

}  // namespace r1::cli
