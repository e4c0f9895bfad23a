// Token sampling for the rollout engine: temperature, top-k, top-p, min-p and greedy over one row
// of logits, driven by a counter-based key so that a draw depends only on (seed, prompt index,
// sample index, position), never on what else is in the batch; and stop-string matching over the
// decoded text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

// Sampling settings, applied in Hugging Face transformers' order:
//   1. temperature: p ∝ exp(logit / temperature);
//   2. top-k: keep the k highest logits (0 = off);
//   3. top-p (nucleus): keep the smallest set of highest-probability tokens whose mass is
//      >= top_p (always at least one token; 1 = off);
//   4. min-p: keep tokens with p >= min_p * p_max, p renormalised after steps 1-3 (0 = off);
// then draw from the renormalised survivors by inverse CDF with one uniform from the key.
// Ranking ties are broken by token id, lower first. greedy, or temperature 0, takes the argmax
// (lowest id on ties) and ignores the other settings.
struct SamplingParams {
  float temperature = 1;
  int top_k = 0;
  float top_p = 1;
  float min_p = 0;
  bool greedy = false;

  // Throws r1::Error naming the field: temperature < 0 or not finite, top_k < 0, top_p outside
  // (0, 1], min_p outside [0, 1).
  void validate() const;
};

struct Draw {
  int32_t token;
  float logprob;  // log softmax(logits / T)[token], before truncation (T = 1 when greedy)
};

// The n most likely tokens of softmax(logits[0, V) / T) and their log-probs, highest first (ties:
// lower id first); T = 1 when params are greedy or T is 0, as for Draw::logprob. n <= 20.
struct TokenLogprob {
  int32_t token;
  float logprob;
};
std::vector<TokenLogprob> top_logprobs(const float* logits, int64_t V, const SamplingParams& params, int n);

// Scratch buffers reused across calls (one per thread): after the first call at a given
// vocabulary size, sample_token allocates nothing.
struct SamplerWorkspace {
  std::vector<float> w;          // (V) exp((logit - max) / temperature)
  std::vector<int32_t> ids;      // candidates of the top-k/top-p cut search
  std::vector<uint16_t> bucket;  // the bucket of each candidate
  std::vector<double> hist;      // bucket totals
  std::vector<double> blocks;    // per-block sums of w, for the inverse-CDF walk
};

// The key of one draw: a pure function of its coordinates, so sample i of prompt j at position t
// gets the same randomness whatever else is batched with it.
uint64_t sample_key(uint64_t seed, uint64_t prompt_index, uint64_t sample_index, uint64_t position);

// Draws one token from logits (V floats) under params with the uniform uniform01(key). Also
// returns the token's log-prob under the tempered distribution softmax(logits / T) before any
// truncation (T = 1 when greedy or T = 0): the policy GRPO's objective is written for, as in TRL
// and verl, whatever top-k/top-p/min-p did to the draw. Throws r1::Error on invalid
// params and on NaN or infinite logits ("logits contain NaN at token N").
// Cost: a few O(V) passes; top-k and top-p find their cut by bucketing the logits and sort only
// the candidates of the bucket where the cut falls.
Draw sample_token(const float* logits, int64_t V, const SamplingParams& params, uint64_t key,
                  SamplerWorkspace& ws);

// Finds stop strings in generated text fed piece by piece (for example one decoded token at a
// time), including matches that straddle pieces. Bytes are compared, so UTF-8 stop strings match
// the UTF-8 text exactly. Memory is bounded: only the last (longest stop string - 1) bytes are
// kept.
//
// Semantics follow vLLM: the caller truncates the generated text at the reported position, so the
// stop string itself is not part of the returned text.
class StopMatcher {
 public:
  static constexpr size_t npos = std::string::npos;

  // Empty stop strings are refused (r1::Error): they would match everywhere.
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends new_text to the text seen so far. Returns the byte offset, within all the text fed
  // since construction, where the earliest stop string completed by this or an earlier feed
  // starts; npos while none has occurred. Once found, the position is fixed and later feeds
  // return it unchanged.
  size_t feed(std::string_view new_text);

  size_t match() const { return match_; }
  size_t bytes_fed() const { return fed_; }

 private:
  std::vector<std::string> stops_;
  size_t keep_ = 0;   // bytes of tail kept: longest stop string - 1
  std::string tail_;  // the last keep_ bytes fed
  size_t fed_ = 0;
  size_t match_ = npos;
};

}  // namespace r1
