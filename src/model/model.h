// The decoder-only transformer (Llama / Qwen2 / Qwen3): parameters in one arena, hand-written
// forward and backward over packed variable-length batches (llm.c style).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/config.h"

namespace r1 {

// One named parameter: a view of `numel` floats at `offset` in the arena. Names are Hugging Face's.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;
  size_t numel = 0;
  bool decay = false;  // weight decay applies to matrices only, not to norm weights and biases
};

// Pointers into an arena (parameters or gradients). q/k/v projections are stored stacked so one
// matrix product computes all three; the same for the MLP's gate and up projections.
struct LayerWeights {
  float* attn_norm;  // (D)
  float* wqkv;       // (qd + 2*kvd, D): q_proj, k_proj, v_proj rows
  float* bqkv;       // (qd + 2*kvd) or null
  float* wo;         // (D, qd)
  float* q_norm;     // (hd) or null (Qwen3)
  float* k_norm;     // (hd) or null (Qwen3)
  float* mlp_norm;   // (D)
  float* wgu;        // (2F, D): gate_proj, up_proj rows
  float* wdown;      // (D, F)
};
struct Weights {
  float* embed;  // (V, D)
  std::vector<LayerWeights> layers;
  float* norm;     // (D)
  float* lm_head;  // (V, D); equals embed when embeddings are tied; null for a reward model
  float* score;    // (1, D): a reward model's score head (ModelConfig::score_head), else null
};

// A packed batch: sequences back to back, no padding. targets[t] is the token whose log-prob
// position t predicts (usually tokens[t+1] within the sequence), or -1 for none.
struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;
  std::vector<int32_t> positions;   // position of each token within its sequence
  std::vector<int32_t> cu_seqlens;  // (num_seqs + 1): sequence s is tokens [cu[s], cu[s+1])
  // (num_seqs) or empty: sequence s attends to all of sequence prefix[s] before its own tokens
  // (-1: none). A prefix is an earlier sequence with no prefix itself. G completions of one
  // prompt share the prompt's rows this way: the prompt runs once, each completion attends to its
  // keys and values, and the backward gathers the prompt's gradient once.
  std::vector<int32_t> prefix;

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_seqs() const { return cu_seqlens.empty() ? 0 : static_cast<int64_t>(cu_seqlens.size()) - 1; }
  void clear();
  // Appends one sequence; `targets` must have the same length as `tokens` (use -1 to mask).
  void append(const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets);
  // Appends one sequence with next-token targets (the last token has none).
  void append_lm(const std::vector<int32_t>& tokens);
  // Appends a sequence that continues sequence `prefix_seq` (an earlier one without a prefix):
  // it attends to all of that sequence first, and its positions continue after it.
  void append_continuation(int32_t prefix_seq, const std::vector<int32_t>& tokens,
                           const std::vector<int32_t>& targets);
  // Sequences [first, end) as a batch of their own (a data-parallel rank's share); a batch
  // with prefixes cannot be cut.
  Batch slice(int64_t first, int64_t end) const;
};

// The tensors of a model with this configuration, in arena order, with their offsets; the
// arena's size (floats, each group 64-byte aligned) in *arena_floats. Allocates only the list.
std::vector<ParamSpec> param_layout(const ModelConfig& config, size_t* arena_floats = nullptr);

// The per-token loss is supplied by the trainer: given log-probs and entropies of all T tokens it
// returns the loss and fills dL/dlogp and dL/dentropy. SFT's weighted cross-entropy and GRPO's
// clipped surrogate are both of this form.
using TokenLossFn =
    std::function<double(const float* logp, const float* entropy, float* dlogp, float* dentropy)>;

// A reward model's loss over its sequences: given the score of every sequence of a batch (one per
// sequence, read at its last token) it returns the loss and fills dL/dscore. The Bradley-Terry
// loss of `r1 rm train` (train/reward_model.h) is one.
using SequenceLossFn = std::function<double(const float* scores, float* dscores)>;

// How the head turns logits into the distribution whose log-probs and entropies forward() and
// forward_backward() return: softmax(logits / temperature) over the first `vocab` entries
// (entries past it, e.g. padding rows of a checkpoint's embedding beyond the tokenizer, get
// probability 0). GRPO sets the sampling temperature here so ratio, KL and entropy are those of
// the tempered policy, as the sampler's log-probs are.
struct HeadConfig {
  float temperature = 1;  // > 0
  int64_t vocab = 0;      // 0 = the whole vocabulary
};

// How forward() and forward_backward() compute: training and the log-prob passes alike, so the
// old-policy log-probs GRPO recomputes have the numerics of the policy it trains.
struct ComputeConfig {
  // F32, or BF16: every matrix product (the layers' and the LM head's) rounds its inputs to bf16
  // and sums exact products in fp32 (kernels/blas.h); the weights stay fp32 (master copy, the
  // optimizer's), copied to bf16 once per version of the parameters; norms, RoPE, attention,
  // softmax and the loss stay fp32.
  DType dtype = DType::F32;
  // Activation recomputation: the training forward keeps only each layer's input (T x hidden
  // floats) and the backward runs each layer's forward again just before its backward, for
  // about one more forward's work; activation memory then holds one layer's set instead of all.
  bool recompute = false;
};

struct LayerMatrices;
struct Matrix;

class Model {
 public:
  // Parameters zero. Refuses (r1::Error) a configuration whose arena does not fit in this
  // machine's memory (check_model_memory) before allocating anything.
  explicit Model(const ModelConfig& config);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const { return config_; }
  const std::vector<ParamSpec>& param_specs() const { return specs_; }
  const ParamSpec* find_param(const std::string& name) const;
  size_t num_params() const { return params_.size(); }
  // Writable parameters. Taking this pointer marks the parameters changed (see version()).
  float* params() {
    mark_params_changed();
    return params_.data();
  }
  const float* params() const { return params_.data(); }
  float* grads();  // allocated on first use
  void zero_grads();
  // Views of the parameters for reading (the forward passes); this does not mark them changed.
  Weights weights() { return view(params_.data()); }

  // The parameters' version, for caches derived from them (the bf16 weight copy of
  // CachedForward, model/infer.h, which repacks when the version it packed differs). It changes
  // at construction, init_random, every non-const params() call (the loaders and AdamW::step
  // write through it), mark_params_changed(), and a move into this model. Versions are unique
  // in the process, so a model moved or loaded into this one never shows an old number.
  // Contract: code that keeps the params() pointer (or a weights() view) and writes through it
  // later must call mark_params_changed() after writing, before the next generation.
  uint64_t version() const { return version_; }
  void mark_params_changed();

  // Normal(0, std) matrices, ones for norm weights, zeros for biases; a pure function of the seed.
  void init_random(uint64_t seed, float std = 0.02f);

  // The head's distribution (HeadConfig). Validates: r1::Error for a temperature <= 0 or not
  // finite, or a vocab outside [0, vocab_size]. The default leaves every result bit-identical to
  // a model without the setting. Only the loss head uses it: forward_last_logits and the logits
  // forward() returns stay raw.
  void set_head(const HeadConfig& h);
  const HeadConfig& head() const { return head_; }

  // Validates (r1::Error for another dtype than F32 and BF16). The default is fp32, no
  // recomputation.
  void set_compute(const ComputeConfig& c);
  const ComputeConfig& compute() const { return compute_; }

  // Inference. logp/entropy (T) for tokens with a target (0 elsewhere), under the head's
  // distribution (set_head); logits (T, V) if non-null: the RAW logits (not divided by the
  // temperature, all V columns). A target at or past the head's vocab is an r1::Error.
  void forward(const Batch& batch, float* logp, float* entropy, float* logits = nullptr);
  // Logits (num_seqs, V) at the last position of each sequence (for generation).
  void forward_last_logits(const Batch& batch, float* logits);
  // Training: forward, loss, backward. Gradients ACCUMULATE into grads(); logp/entropy (T) are
  // returned if non-null (under the head's distribution, as the loss sees them; the backward goes
  // through the temperature and gives lm_head rows past the head's vocab no gradient from the
  // head). Returns the loss.
  double forward_backward(const Batch& batch, const TokenLossFn& loss, float* logp = nullptr,
                          float* entropy = nullptr);

  // The score head of a reward model (config().score_head; r1::Error for a causal LM, and the
  // LM-head calls above are r1::Errors for a reward model). scores (num_seqs): score.weight .
  // the final-normed hidden state of each sequence's last token (HF's
  // *ForSequenceClassification with num_labels 1, no padding). Empty sequences are an error.
  void forward_scores(const Batch& batch, float* scores);
  // Training: forward, the sequence loss, backward (through the pooled rows only). Gradients
  // ACCUMULATE into grads(); scores (num_seqs) are returned if non-null. Returns the loss.
  double forward_backward_scores(const Batch& batch, const SequenceLossFn& loss, float* scores = nullptr);

  // Bytes of activation memory the last call used (for benchmarks).
  size_t activation_bytes() const;

  // RoPE tables (positions, hd/2), rotate-half layout; valid for positions < max_pos after
  // ensure_rope(max_pos). Shared with the cached forward (model/infer.h).
  void ensure_rope(int64_t max_pos);
  const float* rope_cos() const { return rope_cos_.data(); }
  const float* rope_sin() const { return rope_sin_.data(); }

 private:
  struct Activations;
  Weights view(float* base) const;
  void check_batch(const Batch& batch) const;
  void run_layers(const Batch& batch, bool train);
  // The backward from dL/d(final-normed hidden states) (acts_->dxnf, T x D) through the final norm,
  // the layers and the embedding, after run_layers(batch, true): what every head shares.
  void backward_trunk(const Batch& batch);
  // Which head the call needs: fails naming `what` when the model has the other one.
  void require_head(bool score, const char* what) const;
  // The final-normed hidden state of each sequence's last token into acts_->xg (num_seqs x D).
  void gather_last_rows(const Batch& batch);
  // Log-probs, entropies and log-sum-exps of the target rows (into the activations), in chunks
  // of at most `chunk` rows; returns the chunk size.
  int64_t head_forward(const Batch& batch);
  // Rows r0..r0+n of the target rows: their hidden states (xg), targets (tg) and logits over the
  // head's vocabulary divided by the temperature (z, (n, head_vocab())).
  void head_gather(const Batch& batch, const Matrix& head, int64_t r0, int64_t n);
  // The weight matrices in the compute dtype (packing the bf16 copies if the version moved; W^T's
  // too for a backward).
  LayerMatrices matrices(const Weights& W, int layer, bool backward);
  // The head's matrix for a product over its first `rows` rows (fp32), or over all of them with
  // the bf16 copy (whose packed panels cannot be cut).
  Matrix head_matrix_rows(const Weights& W, int64_t rows);
  int64_t head_vocab() const { return head_.vocab > 0 ? head_.vocab : config_.vocab_size; }

  ModelConfig config_;
  HeadConfig head_;
  ComputeConfig compute_;
  std::vector<ParamSpec> specs_;
  std::vector<float> params_;
  std::vector<float> grads_;
  std::vector<float> rope_cos_, rope_sin_;  // (positions, hd/2)
  Activations* acts_ = nullptr;
  uint64_t version_ = 0;
};

}  // namespace r1
