// The rollout engine: batched sampling over the paged KV cache, for GRPO rollouts, evaluation,
// rejection sampling and chat. It is the batch API over the scheduler (rollout/scheduler.h):
// generate() submits every prompt with the same settings and steps until all are done.
//
// Each prompt is prefilled once (in chunks, packed with other work) and then forked into its n
// samples, which share the prompt's cache blocks. Every step runs all live samples' next tokens
// and any pending prefill chunks through the model as one packed batch (continuous batching):
// finished samples free their blocks at once and waiting prompts join as soon as their blocks
// fit. A prompt is admitted only when the pool can hold its worst case (prompt plus n samples of
// max_new_tokens), so a running sample never runs out of cache; a prompt that could not fit even
// in an empty pool is a one-line error.
//
// Reproducibility: sample s of prompt p draws its t-th token with the key
// sample_key(seed, p, s, t), so what a sample produces does not depend on the batch it ran in,
// the order prompts were admitted, or the thread count (up to the last bits of the logits, which
// batched matrix products may round differently).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/model.h"
#include "rollout/scheduler.h"
#include "sample/sampler.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// A batch's settings: the scheduler's (KV pool, batch limits, compute type, context) and those of
// every request it submits (sampling, n, max_new_tokens, seed, stops; the prompt index is each
// prompt's own, set by generate()).
struct GenerationConfig : SchedulerConfig, RequestParams {};

// Thrown by Engine::generate when its stop check says so (say, on SIGINT); the engine is fine to
// use again.
struct GenerationStopped : std::exception {
  const char* what() const noexcept override { return "generation stopped"; }
};

class Engine {
 public:
  // tokenizer may be null: completions then carry no text and stop strings are refused.
  Engine(Model& model, const Tokenizer* tokenizer, GenerationConfig config);
  ~Engine();
  // Another configuration for later generate() calls (validated as the constructor does). The
  // KV pool and the cached forward (with its bf16 weight copy) are kept unless the KV budget,
  // block size or compute dtype change: a trainer's evaluation shares its rollout engine this way.
  void set_config(GenerationConfig config);

  // Generates config.n samples for each prompt (token ids). Prompt i is prompt index
  // first_index + i for the sampling keys and in the completions. on_done is called once per
  // sample as it finishes (in finishing order); on_token, if set, for every token produced.
  void generate(const std::vector<std::vector<int32_t>>& prompts,
                const std::function<void(Completion&&)>& on_done, int64_t first_index = 0,
                const std::function<void(const Completion&, int32_t token)>& on_token = nullptr);

  // The same with prompt i taking index indices[i] (any distinct values, in any order), for a
  // caller that generates a subset of a larger set and wants each sample to be the one the whole
  // set would give (r1 eval --resume).
  void generate(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices,
                const std::function<void(Completion&&)>& on_done,
                const std::function<void(const Completion&, int32_t token)>& on_token = nullptr);

  // Fails (one line, as generate() would) unless every prompt can be generated: not empty, ids
  // in the vocabulary, shorter than config.context, its worst case within the KV budget; for a
  // caller that wants to know before it says or writes anything. Makes the KV pool if there is
  // none yet. Prompt i is named indices[i] (i when indices is empty). generate() checks the same.
  void check(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices = {});

  // Called before every forward pass of generate(); when it returns true, generate() throws
  // GenerationStopped at once (samples not yet finished are dropped). Null: never stops.
  void set_stop_check(std::function<bool()> stop) { stop_ = std::move(stop); }

  // All completions, ordered by (prompt index, sample index).
  std::vector<Completion> generate_all(const std::vector<std::vector<int32_t>>& prompts,
                                       int64_t first_index = 0);

  const GenerationStats& stats() const { return sched_.stats(); }
  // Ids drawn are below this: the model's vocabulary, or the tokenizer's when that is smaller
  // (checkpoints pad the embedding past the tokenizer: Qwen2.5 has 151936 rows for 151665
  // tokens). The padding logits are left out of the draw and of the log-prob's normaliser, as
  // the training head leaves them out when given the same limit (HeadConfig::vocab in model/model.h).
  int64_t sample_vocab() const { return sched_.sample_vocab(); }
  const GenerationConfig& config() const { return config_; }

 private:
  // The per-request part of the configuration, and the scheduler's part.
  RequestParams request_params(int64_t index) const;
  static SchedulerConfig scheduler_config(const GenerationConfig& c);

  GenerationConfig config_;
  Scheduler sched_;
  std::function<bool()> stop_;
};

}  // namespace r1
