#include "model/model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "model/layer.h"
#include "model/memory.h"

namespace r1 {

// ---------------------------------------------------------------------------------------------
// Batch

void Batch::clear() {
  tokens.clear();
  targets.clear();
  positions.clear();
  cu_seqlens.clear();
  prefix.clear();
}

void Batch::append(const std::vector<int32_t>& toks, const std::vector<int32_t>& tgts) {
  R1_CHECK(toks.size() == tgts.size());
  if (cu_seqlens.empty()) cu_seqlens.push_back(0);
  for (size_t i = 0; i < toks.size(); i++) positions.push_back(static_cast<int32_t>(i));
  tokens.insert(tokens.end(), toks.begin(), toks.end());
  targets.insert(targets.end(), tgts.begin(), tgts.end());
  cu_seqlens.push_back(static_cast<int32_t>(tokens.size()));
  if (!prefix.empty()) prefix.push_back(-1);
}

Batch Batch::slice(int64_t first, int64_t end) const {
  R1_CHECK(prefix.empty() && 0 <= first && first <= end && end <= num_seqs());
  Batch b;
  if (first == end) return b;
  const size_t t0 = static_cast<size_t>(cu_seqlens[static_cast<size_t>(first)]);
  const size_t t1 = static_cast<size_t>(cu_seqlens[static_cast<size_t>(end)]);
  b.tokens.assign(tokens.begin() + t0, tokens.begin() + t1);
  b.targets.assign(targets.begin() + t0, targets.begin() + t1);
  b.positions.assign(positions.begin() + t0, positions.begin() + t1);
  for (int64_t s = first; s <= end; s++)
    b.cu_seqlens.push_back(cu_seqlens[static_cast<size_t>(s)] - static_cast<int32_t>(t0));
  return b;
}

void Batch::append_continuation(int32_t prefix_seq, const std::vector<int32_t>& toks,
                                const std::vector<int32_t>& tgts) {
  R1_CHECK(toks.size() == tgts.size());
  R1_CHECK(prefix_seq >= 0 && prefix_seq < num_seqs());
  prefix.resize(static_cast<size_t>(num_seqs()), -1);
  R1_CHECK(prefix[static_cast<size_t>(prefix_seq)] == -1);
  const int32_t start = cu_seqlens[prefix_seq + 1] - cu_seqlens[prefix_seq];
  for (size_t i = 0; i < toks.size(); i++) positions.push_back(start + static_cast<int32_t>(i));
  tokens.insert(tokens.end(), toks.begin(), toks.end());
  targets.insert(targets.end(), tgts.begin(), tgts.end());
  cu_seqlens.push_back(static_cast<int32_t>(tokens.size()));
  prefix.push_back(prefix_seq);
}

void Batch::append_lm(const std::vector<int32_t>& toks) {
  std::vector<int32_t> tgts(toks.size(), -1);
  for (size_t i = 0; i + 1 < toks.size(); i++) tgts[i] = toks[i + 1];
  append(toks, tgts);
}

// ---------------------------------------------------------------------------------------------
// Run-time state: the kernels, the bf16 weight copy (bf16 compute), and what the backward needs.
// Training keeps every layer's input (resid) and, without recomputation, every layer's
// activations; inference and recomputation keep one layer's set, reused.

struct Model::Activations {
  CpuKernels kernels;
  std::unique_ptr<PackedWeights> packed;  // BF16 compute only
  std::vector<std::vector<float>> resid;  // (L+1) x (T, D) in training; 2 alternating in inference
  std::vector<LayerActs> layers;
  LayerGradScratch grad;
  std::vector<float> rstdf, xnf;  // final norm
  std::vector<float> dx, dxnf, x_tmp;
  // loss head: per-token statistics (T) and one chunk of gathered rows and logits
  std::vector<float> logp, ent, lse, dlogp, dent, xg, z, dxg, lp_c, ent_c, lse_c, dlp_c, dent_c;
  std::vector<int32_t> tg;
  std::vector<int64_t> rows;

  size_t bytes() const {
    size_t n = grad.bytes();
    auto add = [&](const std::vector<float>& v) { n += v.capacity() * sizeof(float); };
    for (const auto& r : resid) add(r);
    for (const auto& l : layers) n += l.bytes();
    for (const auto* v : {&rstdf, &xnf, &dx, &dxnf, &x_tmp, &logp, &ent, &lse, &dlogp, &dent, &xg, &z, &dxg,
                          &lp_c, &ent_c, &lse_c, &dlp_c, &dent_c})
      add(*v);
    return n;
  }
};

// ---------------------------------------------------------------------------------------------
// Parameters

std::vector<ParamSpec> param_layout(const ModelConfig& c, size_t* arena_floats) {
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, hd = c.head_dim;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  std::vector<ParamSpec> specs;
  size_t offset = 0;
  // Members of a group are contiguous (no padding), so stacked views like wqkv are valid.
  auto group = [&](std::initializer_list<std::pair<std::string, std::vector<int64_t>>> members) {
    offset = (offset + 15) / 16 * 16;  // 64-byte alignment at the start of each group
    for (const auto& [name, shape] : members) {
      size_t n = 1;
      for (int64_t d : shape) n *= static_cast<size_t>(d);
      specs.push_back({name, shape, offset, n, shape.size() >= 2});
      offset += n;
    }
  };
  group({{"model.embed_tokens.weight", {V, D}}});
  for (int l = 0; l < c.num_layers; l++) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    group({{p + "input_layernorm.weight", {D}}});
    group({{p + "self_attn.q_proj.weight", {qd, D}},
           {p + "self_attn.k_proj.weight", {kvd, D}},
           {p + "self_attn.v_proj.weight", {kvd, D}}});
    if (c.attention_bias)
      group({{p + "self_attn.q_proj.bias", {qd}},
             {p + "self_attn.k_proj.bias", {kvd}},
             {p + "self_attn.v_proj.bias", {kvd}}});
    group({{p + "self_attn.o_proj.weight", {D, qd}}});
    if (c.qk_norm) group({{p + "self_attn.q_norm.weight", {hd}}, {p + "self_attn.k_norm.weight", {hd}}});
    group({{p + "post_attention_layernorm.weight", {D}}});
    group({{p + "mlp.gate_proj.weight", {F, D}}, {p + "mlp.up_proj.weight", {F, D}}});
    group({{p + "mlp.down_proj.weight", {D, F}}});
  }
  group({{"model.norm.weight", {D}}});
  if (c.score_head)
    group({{"score.weight", {1, D}}});  // HF's score = nn.Linear(hidden, num_labels = 1, bias=False)
  else if (!c.tie_word_embeddings)
    group({{"lm_head.weight", {V, D}}});
  if (arena_floats) *arena_floats = (offset + 15) / 16 * 16;
  return specs;
}

Model::Model(const ModelConfig& config) : config_(config) {
  // Before the layout (a string per tensor) and the arena: refuse what cannot fit.
  check_model_memory(config_, "model configuration");
  size_t arena = 0;
  specs_ = param_layout(config_, &arena);
  params_.assign(arena, 0.f);
  acts_ = new Activations;
  mark_params_changed();
}

Model::Model(Model&& o) noexcept {
  *this = std::move(o);
}
Model& Model::operator=(Model&& o) noexcept {
  if (this != &o) {
    version_ = o.version_;
    o.mark_params_changed();  // o's (now empty) parameters are not what any cache packed
    delete acts_;
    config_ = std::move(o.config_);
    specs_ = std::move(o.specs_);
    params_ = std::move(o.params_);
    grads_ = std::move(o.grads_);
    rope_cos_ = std::move(o.rope_cos_);
    rope_sin_ = std::move(o.rope_sin_);
    head_ = o.head_;
    compute_ = o.compute_;
    acts_ = o.acts_;
    o.acts_ = nullptr;
  }
  return *this;
}
Model::~Model() {
  delete acts_;
}

const ParamSpec* Model::find_param(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

Weights Model::view(float* base) const {
  auto at = [&](const std::string& name) -> float* {
    const ParamSpec* s = find_param(name);
    return s ? base + s->offset : nullptr;
  };
  Weights w;
  w.embed = at("model.embed_tokens.weight");
  for (int l = 0; l < config_.num_layers; l++) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.layers.push_back({at(p + "input_layernorm.weight"), at(p + "self_attn.q_proj.weight"),
                        at(p + "self_attn.q_proj.bias"), at(p + "self_attn.o_proj.weight"),
                        at(p + "self_attn.q_norm.weight"), at(p + "self_attn.k_norm.weight"),
                        at(p + "post_attention_layernorm.weight"), at(p + "mlp.gate_proj.weight"),
                        at(p + "mlp.down_proj.weight")});
  }
  w.norm = at("model.norm.weight");
  w.lm_head = config_.score_head ? nullptr : config_.tie_word_embeddings ? w.embed : at("lm_head.weight");
  w.score = at("score.weight");
  return w;
}

float* Model::grads() {
  if (grads_.size() != params_.size()) grads_.assign(params_.size(), 0.f);
  return grads_.data();
}

void Model::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), 0.f);
}

void Model::mark_params_changed() {
  static std::atomic<uint64_t> last{0};
  version_ = last.fetch_add(1, std::memory_order_relaxed) + 1;
}

void Model::init_random(uint64_t seed, float std) {
  mark_params_changed();
  for (size_t i = 0; i < specs_.size(); i++) {
    const ParamSpec& s = specs_[i];
    float* p = params_.data() + s.offset;
    const bool is_norm = s.name.find("norm.weight") != std::string::npos;
    const bool is_bias = s.name.ends_with(".bias");
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < s.numel; j++) {
      p[j] = is_norm ? 1.f : is_bias ? 0.f : static_cast<float>(std * normal(seed, i, j));
    }
  }
}

size_t Model::activation_bytes() const {
  return acts_->bytes();
}

// ---------------------------------------------------------------------------------------------
// Forward

void Model::check_batch(const Batch& b) const {
  const int64_t T = b.size();
  if (static_cast<int64_t>(b.targets.size()) != T || static_cast<int64_t>(b.positions.size()) != T)
    fail("batch: tokens, targets and positions must have the same length");
  if (b.cu_seqlens.empty() || b.cu_seqlens.front() != 0 || b.cu_seqlens.back() != T)
    fail("batch: cu_seqlens must start at 0 and end at the token count {}", T);
  for (size_t s = 1; s < b.cu_seqlens.size(); s++)
    if (b.cu_seqlens[s] < b.cu_seqlens[s - 1]) fail("batch: cu_seqlens must be non-decreasing");
  if (!b.prefix.empty()) {
    if (static_cast<int64_t>(b.prefix.size()) != b.num_seqs())
      fail("batch: prefix has {} entries for {} sequences", b.prefix.size(), b.num_seqs());
    for (int64_t s = 0; s < b.num_seqs(); s++) {
      const int32_t p = b.prefix[static_cast<size_t>(s)];
      if (p != -1 && (p < 0 || p >= s || b.prefix[static_cast<size_t>(p)] != -1))
        fail("batch: sequence {} has prefix {}, which is not an earlier sequence without a prefix", s, p);
    }
  }
  for (int64_t t = 0; t < T; t++) {
    if (b.tokens[t] < 0 || b.tokens[t] >= config_.vocab_size)
      fail("batch: token id {} at position {} is outside the vocabulary (size {})", b.tokens[t], t,
           config_.vocab_size);
    if (b.targets[t] >= config_.vocab_size)
      fail("batch: target id {} at position {} is outside the vocabulary (size {})", b.targets[t], t,
           config_.vocab_size);
    if (b.positions[t] < 0) fail("batch: negative position at {}", t);
  }
}

void Model::ensure_rope(int64_t max_pos) {
  const int64_t half = config_.head_dim / 2;
  const int64_t have = static_cast<int64_t>(rope_cos_.size()) / half;
  if (have >= max_pos) return;
  const int64_t n = std::max<int64_t>(max_pos, 2 * have);
  rope_cos_.resize(n * half);
  rope_sin_.resize(n * half);
  for (int64_t p = have; p < n; p++) {
    for (int64_t j = 0; j < half; j++) {
      // inv_freq_j = theta^(-2j/hd); angles in double so long positions keep their precision.
      double angle = static_cast<double>(p) * std::pow(config_.rope_theta, -2.0 * j / config_.head_dim);
      rope_cos_[p * half + j] = static_cast<float>(std::cos(angle));
      rope_sin_[p * half + j] = static_cast<float>(std::sin(angle));
    }
  }
}

void Model::set_compute(const ComputeConfig& cc) {
  if (cc.dtype != DType::F32 && cc.dtype != DType::BF16)
    fail("model: compute dtype {} is not supported for training (f32 or bf16)", dtype_name(cc.dtype));
  compute_ = cc;
  if (cc.dtype != DType::BF16) acts_->packed.reset();
}

LayerMatrices Model::matrices(const Weights& W, int l, bool backward) {
  if (compute_.dtype != DType::BF16) return layer_matrices(config_, W, l);
  if (!acts_->packed)
    acts_->packed = std::make_unique<PackedWeights>(*this, backward);
  else
    acts_->packed->refresh(*this, backward);
  return acts_->packed->layer(W, l);
}

Matrix Model::head_matrix_rows(const Weights& W, int64_t rows) {
  Matrix m =
      compute_.dtype == DType::BF16 && acts_->packed ? acts_->packed->head(W) : head_matrix(config_, W);
  if (rows != m.out && m.bf16 == nullptr) m.out = rows;  // fp32: the first rows of lm_head only
  return m;
}

void Model::run_layers(const Batch& b, bool train) {
  check_batch(b);
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size, L = c.num_layers;
  Activations& A = *acts_;
  int32_t maxpos = 0;
  for (int32_t p : b.positions) maxpos = std::max(maxpos, p);
  ensure_rope(maxpos + 1);
  // Training keeps every layer's input; without recomputation every layer's activations too.
  A.resid.resize(train ? L + 1 : 2);
  for (auto& r : A.resid) r.resize(T * D);
  A.layers.resize(train && !compute_.recompute ? L : 1);
  Weights W = weights();
  const LayerRows rows{T, b.positions.data(), rope_cos_.data(), rope_sin_.data()};
  PackedAttention attn(c, b);

  A.kernels.embedding(A.resid[0].data(), W.embed, b.tokens.data(), T, D);
  for (int64_t l = 0; l < L; l++) {
    const float* x_in = A.resid[train ? l : l % 2].data();
    float* x_out = A.resid[train ? l + 1 : (l + 1) % 2].data();
    layer_forward(A.kernels, c, W.layers[l], matrices(W, static_cast<int>(l), train), static_cast<int>(l),
                  rows, x_in, x_out, A.layers[A.layers.size() == 1 ? 0 : l], attn);
  }
  A.rstdf.resize(T), A.xnf.resize(T * D);
  A.kernels.rmsnorm(A.xnf.data(), A.rstdf.data(), A.resid[train ? L : L % 2].data(), W.norm, T, D,
                    c.rms_norm_eps, D, D);
}

void Model::set_head(const HeadConfig& h) {
  if (!(h.temperature > 0) || !std::isfinite(h.temperature) || !std::isfinite(1 / h.temperature))
    fail("head: temperature must be a finite number > 0, got {}", h.temperature);
  if (h.vocab < 0 || h.vocab > config_.vocab_size)
    fail("head: vocab {} is outside [0, {}] (0 = the whole vocabulary)", h.vocab, config_.vocab_size);
  head_ = h;
}

void Model::require_head(bool score, const char* what) const {
  if (score && !config_.score_head)
    fail("model: {} needs a reward model (a score head); this is a causal LM ({})", what,
         config_.arch_name());
  if (!score && config_.score_head)
    fail("model: {} needs an LM head; this is a reward model ({}, score head only)", what,
         config_.arch_name());
}

void Model::forward(const Batch& b, float* logp, float* entropy, float* logits) {
  require_head(false, "forward (log-probs)");
  run_layers(b, false);
  const int64_t T = b.size(), V = config_.vocab_size;
  const bool plain_head = head_.temperature == 1 && head_vocab() == V;
  Kernels& K = acts_->kernels;
  if (logits) K.linear(logits, acts_->xnf.data(), head_matrix_rows(weights(), V), T);
  if (logits && plain_head) {
    std::vector<float> lp(T), ent(T), lse(T);
    K.logprob(lp.data(), ent.data(), lse.data(), logits, b.targets.data(), T, V);
    if (logp) std::copy(lp.begin(), lp.end(), logp);
    if (entropy) std::copy(ent.begin(), ent.end(), entropy);
  } else if (logp || entropy) {
    head_forward(b);
    if (logp) std::copy(acts_->logp.begin(), acts_->logp.end(), logp);
    if (entropy) std::copy(acts_->ent.begin(), acts_->ent.end(), entropy);
  }
}

void Model::forward_last_logits(const Batch& b, float* logits) {
  require_head(false, "forward_last_logits");
  run_layers(b, false);
  const int64_t D = config_.hidden_size, V = config_.vocab_size, n = b.num_seqs();
  std::vector<float> last(n * D);
  for (int64_t s = 0; s < n; s++) {
    if (b.cu_seqlens[s + 1] == b.cu_seqlens[s]) fail("batch: sequence {} is empty", s);
    std::memcpy(last.data() + s * D, acts_->xnf.data() + (b.cu_seqlens[s + 1] - 1) * D, D * sizeof(float));
  }
  acts_->kernels.linear(logits, last.data(), head_matrix_rows(weights(), V), n);
}

// ---------------------------------------------------------------------------------------------
// Loss head: logits only for rows that have a target, in chunks bounded by a memory budget.
// Buffers live in Activations so steps after the first allocate nothing.
// The head's vocabulary limit is exact: only the first head_vocab() rows of lm_head enter the
// fp32 product, so the entries past it have probability exactly 0 and their rows no gradient. (A
// bf16 product runs over the packed whole head, whose panels cannot be cut, and the columns past
// the limit are dropped from each row before the softmax.)
void Model::head_gather(const Batch& b, const Matrix& head, int64_t r0, int64_t n) {
  Activations& A = *acts_;
  const int64_t D = config_.hidden_size, V = head_vocab(), Vm = head.out;
  for (int64_t i = 0; i < n; i++) {
    std::memcpy(A.xg.data() + i * D, A.xnf.data() + A.rows[r0 + i] * D, D * sizeof(float));
    A.tg[i] = b.targets[A.rows[r0 + i]];
  }
  A.kernels.linear(A.z.data(), A.xg.data(), head, n);
  if (Vm != V)  // rows of Vm logits -> rows of the first V
    for (int64_t i = 1; i < n; i++) std::memmove(A.z.data() + i * V, A.z.data() + i * Vm, V * sizeof(float));
  if (head_.temperature != 1) A.kernels.scale(A.z.data(), 1 / head_.temperature, n * V);
}

int64_t Model::head_forward(const Batch& b) {
  Activations& A = *acts_;
  const int64_t T = b.size(), D = config_.hidden_size, V = head_vocab();
  const Matrix head = head_matrix_rows(weights(), V);
  auto& rows = A.rows;
  rows.clear();
  for (int64_t t = 0; t < T; t++) {
    if (b.targets[t] < 0) continue;
    if (b.targets[t] >= V)
      fail("batch: target id {} at position {} is outside the head's vocabulary (size {})", b.targets[t], t,
           V);
    rows.push_back(t);
  }
  const int64_t R = static_cast<int64_t>(rows.size());
  constexpr int64_t kLogitBudget = 64 << 20;  // floats of logits kept at once (256 MiB)
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(R, kLogitBudget / head.out));
  for (auto* v : {&A.logp, &A.ent, &A.lse, &A.dlogp, &A.dent}) v->assign(T, 0.f);
  A.xg.resize(chunk * D), A.z.resize(chunk * head.out), A.dxg.resize(chunk * D), A.tg.resize(chunk);
  for (auto* v : {&A.lp_c, &A.ent_c, &A.lse_c, &A.dlp_c, &A.dent_c}) v->resize(chunk);
  for (int64_t r0 = 0; r0 < R; r0 += chunk) {
    const int64_t n = std::min(chunk, R - r0);
    head_gather(b, head, r0, n);
    A.kernels.logprob(A.lp_c.data(), A.ent_c.data(), A.lse_c.data(), A.z.data(), A.tg.data(), n, V);
    for (int64_t i = 0; i < n; i++) {
      A.logp[rows[r0 + i]] = A.lp_c[i];
      A.ent[rows[r0 + i]] = A.ent_c[i];
      A.lse[rows[r0 + i]] = A.lse_c[i];
    }
  }
  return chunk;
}

// ---------------------------------------------------------------------------------------------
// Training step: forward, per-token loss, backward.

double Model::forward_backward(const Batch& b, const TokenLossFn& loss_fn, float* logp_out,
                               float* entropy_out) {
  require_head(false, "forward_backward (token loss)");
  run_layers(b, true);
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size, V = head_vocab();
  Activations& A = *acts_;
  Kernels& K = A.kernels;
  Weights W = weights();
  Weights G = view(grads());

  // ---- head: logits only for rows that have a target, in chunks bounded by a memory budget ----
  const int64_t chunk = head_forward(b);
  const Matrix head = head_matrix_rows(W, V);  // fp32: the head's V rows; bf16: all rows, packed
  const auto& rows = A.rows;
  const int64_t R = static_cast<int64_t>(rows.size());
  const bool keep = chunk >= R;  // everything fit in one chunk: xg, tg and z still hold it
  const double loss = loss_fn(A.logp.data(), A.ent.data(), A.dlogp.data(), A.dent.data());
  if (logp_out) std::copy(A.logp.begin(), A.logp.end(), logp_out);
  if (entropy_out) std::copy(A.ent.begin(), A.ent.end(), entropy_out);

  A.dxnf.assign(T * D, 0.f);
  for (int64_t r0 = 0; r0 < R; r0 += chunk) {
    const int64_t n = std::min(chunk, R - r0);
    if (!keep) head_gather(b, head, r0, n);
    for (int64_t i = 0; i < n; i++) {
      const int64_t t = rows[r0 + i];
      A.lse_c[i] = A.lse[t], A.ent_c[i] = A.ent[t], A.dlp_c[i] = A.dlogp[t], A.dent_c[i] = A.dent[t];
    }
    K.logprob_backward(A.z.data(), A.lse_c.data(), A.ent_c.data(), A.tg.data(), A.dlp_c.data(),
                       A.dent_c.data(), n, V);
    // z = logits / temperature: dlogits = dz / temperature
    if (head_.temperature != 1) K.scale(A.z.data(), 1 / head_.temperature, n * V);
    if (head.out != V)  // rows of V -> rows of all head.out logits, the ones past V with gradient 0
      for (int64_t i = n - 1; i >= 0; i--) {
        float* row = A.z.data() + i * head.out;
        if (i > 0) std::memmove(row, A.z.data() + i * V, V * sizeof(float));
        std::fill(row + V, row + head.out, 0.f);
      }
    K.linear_backward(A.dxg.data(), G.lm_head, A.z.data(), A.xg.data(), head, n);
    for (int64_t i = 0; i < n; i++)
      std::memcpy(A.dxnf.data() + rows[r0 + i] * D, A.dxg.data() + i * D, D * sizeof(float));
  }

  backward_trunk(b);
  return loss;
}

void Model::backward_trunk(const Batch& b) {
  const ModelConfig& c = config_;
  const int64_t T = b.size(), D = c.hidden_size, L = c.num_layers;
  Activations& A = *acts_;
  Kernels& K = A.kernels;
  Weights W = weights();
  Weights G = view(grads());

  // ---- final norm ----
  A.dx.resize(T * D);
  float* dx = A.dx.data();
  K.rmsnorm_backward(dx, G.norm, A.dxnf.data(), A.resid[L].data(), W.norm, A.rstdf.data(), T, D, D, D, 0.f);

  // ---- layers in reverse; dx is the gradient of the residual stream ----
  const LayerRows lrows{T, b.positions.data(), rope_cos_.data(), rope_sin_.data()};
  PackedAttention attn(c, b);
  for (int64_t l = L - 1; l >= 0; l--) {
    const int li = static_cast<int>(l);
    const LayerMatrices m = matrices(W, li, true);
    LayerActs* a = &A.layers[A.layers.size() == 1 ? 0 : l];
    if (compute_.recompute) {  // the forward kept only the layer's input: run the layer again
      A.x_tmp.resize(T * D);
      layer_forward(K, c, W.layers[l], m, li, lrows, A.resid[l].data(), A.x_tmp.data(), *a, attn);
    }
    layer_backward(K, c, W.layers[l], m, G.layers[l], lrows, attn, A.resid[l].data(), *a, A.grad, dx);
  }
  K.embedding_backward(G.embed, dx, b.tokens.data(), T, D);
}

// ---------------------------------------------------------------------------------------------
// Score head (reward models): one scalar per sequence from its last row. The product is fp32 in
// either compute dtype (it is one dot product per sequence).

void Model::gather_last_rows(const Batch& b) {
  Activations& A = *acts_;
  const int64_t D = config_.hidden_size, n = b.num_seqs();
  A.xg.resize(n * D);
  for (int64_t s = 0; s < n; s++) {
    if (b.cu_seqlens[s + 1] == b.cu_seqlens[s]) fail("batch: sequence {} is empty", s);
    std::memcpy(A.xg.data() + s * D, A.xnf.data() + (b.cu_seqlens[s + 1] - 1) * D, D * sizeof(float));
  }
}

void Model::forward_scores(const Batch& b, float* scores) {
  require_head(true, "forward_scores");
  run_layers(b, false);
  gather_last_rows(b);
  const Matrix score{weights().score, 1, config_.hidden_size};
  acts_->kernels.linear(scores, acts_->xg.data(), score, b.num_seqs());
}

double Model::forward_backward_scores(const Batch& b, const SequenceLossFn& loss_fn, float* scores_out) {
  require_head(true, "forward_backward_scores");
  run_layers(b, true);
  const int64_t T = b.size(), D = config_.hidden_size, n = b.num_seqs();
  Activations& A = *acts_;
  gather_last_rows(b);
  const Matrix score{weights().score, 1, D};
  std::vector<float> sc(static_cast<size_t>(n)), dsc(static_cast<size_t>(n), 0.f);
  A.kernels.linear(sc.data(), A.xg.data(), score, n);
  const double loss = loss_fn(sc.data(), dsc.data());
  if (scores_out) std::copy(sc.begin(), sc.end(), scores_out);
  A.dxg.resize(n * D);
  A.kernels.linear_backward(A.dxg.data(), view(grads()).score, dsc.data(), A.xg.data(), score, n);
  A.dxnf.assign(T * D, 0.f);
  for (int64_t s = 0; s < n; s++)
    std::memcpy(A.dxnf.data() + (b.cu_seqlens[s + 1] - 1) * D, A.dxg.data() + s * D, D * sizeof(float));
  backward_trunk(b);
  return loss;
}

}  // namespace r1
