#include "model/layer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "kernels/blas.h"

namespace r1 {

// ---------------------------------------------------------------------------------------------
// Weight matrices

LayerMatrices layer_matrices(const ModelConfig& c, const Weights& W, int l) {
  const LayerWeights& w = W.layers[static_cast<size_t>(l)];
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  return {{w.wqkv, c.qkv_dim(), D}, {w.wo, D, c.q_dim()}, {w.wgu, 2 * F, D}, {w.wdown, D, F}};
}

Matrix head_matrix(const ModelConfig& c, const Weights& W) {
  if (c.score_head) return {W.score, 1, c.hidden_size};  // a reward model: its score row
  return {W.lm_head, c.vocab_size, c.hidden_size};
}

PackedWeights::PackedWeights(const Model& model, bool transposed) : config_(model.config()), t_(transposed) {
  sync(model);
}

bool PackedWeights::refresh(const Model& model, bool transposed) {
  if (model.version() == version_ && (t_ || !transposed)) return false;
  if (model.version() == version_) {  // W is current; W^T is asked for the first time
    t_ = true;
    pack(model, true, data_t_, size_t_, layers_t_, head_t_);
    packs_++;
    return true;
  }
  t_ = t_ || transposed;
  sync(model);
  return true;
}

void PackedWeights::sync(const Model& model) {
  config_ = model.config();
  pack(model, false, data_, size_, layers_, head_);
  if (t_) pack(model, true, data_t_, size_t_, layers_t_, head_t_);
  version_ = model.version();
  packs_++;
}

void PackedWeights::pack(const Model& model, bool transposed, Buffer& buf, size_t& size,
                         std::vector<Offsets>& layers, size_t& head) {
  const ModelConfig& c = config_;
  const Weights W = const_cast<Model&>(model).weights();  // read only
  size_t total = 0;
  std::vector<Bf16PackJob> jobs;
  std::vector<size_t> offsets;  // of each job's matrix in buf
  auto place = [&](const Matrix& m) {
    const size_t at = total;
    jobs.push_back({m.f32, m.out, m.in, nullptr});
    offsets.push_back(at);
    // A multiple of 32 elements: each matrix 64-byte aligned. W^T (in, out) packs as an (in, out)
    // matrix's W.
    total += size_t(transposed ? bf16_packed_size(m.in, m.out) : bf16_packed_size(m.out, m.in));
    return at;
  };
  layers.clear();
  for (int l = 0; l < c.num_layers; l++) {
    const LayerMatrices m = layer_matrices(c, W, l);
    Offsets o;
    o.qkv = place(m.qkv), o.o = place(m.o), o.gu = place(m.gu), o.down = place(m.down);
    layers.push_back(o);
  }
  head = place(head_matrix(c, W));
  if (total != size) {
    // Not zeroed: the packing writes every element. 64-byte aligned for its streaming stores.
    buf.reset();
    size = 0;
    void* p = std::aligned_alloc(64, std::max<size_t>(64, (total * sizeof(uint16_t) + 63) / 64 * 64));
    if (p == nullptr) throw std::bad_alloc();
    buf.reset(static_cast<uint16_t*>(p));
    size = total;
  }
  for (size_t j = 0; j < jobs.size(); j++) jobs[j].dst = buf.get() + offsets[j];
  if (!transposed) return pack_bf16_weights(jobs);
  for (const Bf16PackJob& j : jobs) pack_bf16_kmajor(j.w, j.out, j.in, j.in, j.dst);
}

LayerMatrices PackedWeights::layer(const Weights& W, int l) const {
  LayerMatrices m = layer_matrices(config_, W, l);
  const Offsets& o = layers_[static_cast<size_t>(l)];
  m.qkv.bf16 = data_.get() + o.qkv, m.o.bf16 = data_.get() + o.o, m.gu.bf16 = data_.get() + o.gu,
  m.down.bf16 = data_.get() + o.down;
  if (t_) {
    const Offsets& t = layers_t_[static_cast<size_t>(l)];
    m.qkv.bf16_t = data_t_.get() + t.qkv, m.o.bf16_t = data_t_.get() + t.o,
    m.gu.bf16_t = data_t_.get() + t.gu, m.down.bf16_t = data_t_.get() + t.down;
  }
  return m;
}

Matrix PackedWeights::head(const Weights& W) const {
  Matrix m = head_matrix(config_, W);
  m.bf16 = data_.get() + head_;
  if (t_) m.bf16_t = data_t_.get() + head_t_;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Buffers

namespace {
size_t bytes_of(std::initializer_list<const std::vector<float>*> vs) {
  size_t n = 0;
  for (const auto* v : vs) n += v->capacity() * sizeof(float);
  return n;
}
}  // namespace

void LayerActs::resize(const ModelConfig& c, int64_t T) {
  const int64_t D = c.hidden_size, F = c.intermediate_size, qd = c.q_dim(), kvd = c.kv_dim();
  rstd1.resize(T), xn1.resize(T * D), qkv.resize(T * c.qkv_dim()), q.resize(T * qd), k.resize(T * kvd);
  o.resize(T * qd), lse.resize(T * c.num_heads), x_mid.resize(T * D), rstd2.resize(T), xn2.resize(T * D);
  gu.resize(T * 2 * F), act.resize(T * F);
  if (c.qk_norm) qn_rstd.resize(T * c.num_heads), kn_rstd.resize(T * c.num_kv_heads);
}

size_t LayerActs::bytes() const {
  return bytes_of(
      {&rstd1, &xn1, &qkv, &qn_rstd, &kn_rstd, &q, &k, &o, &lse, &x_mid, &rstd2, &xn2, &gu, &act});
}

void LayerGradScratch::resize(const ModelConfig& c, int64_t T) {
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  dxn.resize(T * D), dact.resize(T * F), dgu.resize(T * 2 * F), do_.resize(T * c.q_dim());
  dq.resize(T * c.q_dim()), dk.resize(T * c.kv_dim()), dqkv.resize(T * c.qkv_dim());
}

size_t LayerGradScratch::bytes() const {
  return bytes_of({&dxn, &dact, &dgu, &do_, &dq, &dk, &dqkv});
}

// ---------------------------------------------------------------------------------------------
// Attention within the packed batch

PackedAttention::PackedAttention(const ModelConfig& c, const Batch& b)
    : c_(c),
      cu_(b.cu_seqlens.data()),
      prefix_(b.prefix.empty() ? nullptr : b.prefix.data()),
      nseq_(b.num_seqs()) {}

void PackedAttention::forward(Kernels& K, int, const float* q, const float* k, const float* v, int64_t ldv,
                              float* out, float* lse) {
  K.attention(out, lse, q, k, v, cu_, prefix_, nseq_, c_.num_heads, c_.num_kv_heads, c_.head_dim, c_.q_dim(),
              c_.kv_dim(), ldv, c_.q_dim());
}

void PackedAttention::backward(Kernels& K, float* dq, float* dk, float* dv, const float* dout,
                               const float* out, const float* lse, const float* q, const float* k,
                               const float* v, int64_t ldv) const {
  K.attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu_, prefix_, nseq_, c_.num_heads,
                       c_.num_kv_heads, c_.head_dim, c_.q_dim(), c_.kv_dim(), ldv, c_.q_dim());
}

// ---------------------------------------------------------------------------------------------
// The layer

namespace {
// Adds the time since the previous tick to a phase (profiling only).
struct Ticker {
  using Clock = std::chrono::steady_clock;
  ForwardProfile* p;
  Clock::time_point last;
  explicit Ticker(ForwardProfile* prof) : p(prof) {
    if (p) last = Clock::now();
  }
  void operator()(double ForwardProfile::*slot) {
    if (!p) return;
    const auto t = Clock::now();
    p->*slot += std::chrono::duration<double>(t - last).count();
    last = t;
  }
};
}  // namespace

void layer_forward(Kernels& K, const ModelConfig& c, const LayerWeights& w, const LayerMatrices& m, int layer,
                   const LayerRows& r, const float* x_in, float* x_out, LayerActs& a, AttentionOp& attn,
                   ForwardProfile* profile) {
  const int64_t T = r.T, D = c.hidden_size, F = c.intermediate_size, hd = c.head_dim;
  const int64_t Hq = c.num_heads, Hkv = c.num_kv_heads, qd = c.q_dim(), kvd = c.kv_dim(), qkvd = c.qkv_dim();
  const float eps = c.rms_norm_eps;
  a.resize(c, T);
  Ticker tick(profile);

  // attention block: x_mid = x_in + o_proj(attn(rope(q), rope(k), v))
  K.rmsnorm(a.xn1.data(), a.rstd1.data(), x_in, w.attn_norm, T, D, eps, D, D);
  tick(&ForwardProfile::norms);
  K.linear(a.qkv.data(), a.xn1.data(), m.qkv, T);
  if (w.bqkv) K.bias(a.qkv.data(), w.bqkv, T, qkvd, qkvd);
  tick(&ForwardProfile::qkv);
  if (c.qk_norm) {
    for (int64_t h = 0; h < Hq; h++)
      K.rmsnorm(a.q.data() + h * hd, a.qn_rstd.data() + h * T, a.qkv.data() + h * hd, w.q_norm, T, hd, eps,
                qkvd, qd);
    for (int64_t h = 0; h < Hkv; h++)
      K.rmsnorm(a.k.data() + h * hd, a.kn_rstd.data() + h * T, a.qkv.data() + qd + h * hd, w.k_norm, T, hd,
                eps, qkvd, kvd);
  } else {
#pragma omp parallel for schedule(static) if (T * qkvd > (1 << 16))
    for (int64_t t = 0; t < T; t++) {
      std::memcpy(a.q.data() + t * qd, a.qkv.data() + t * qkvd, qd * sizeof(float));
      std::memcpy(a.k.data() + t * kvd, a.qkv.data() + t * qkvd + qd, kvd * sizeof(float));
    }
  }
  K.rope(a.q.data(), r.pos, r.rope_cos, r.rope_sin, T, Hq, hd, qd);
  K.rope(a.k.data(), r.pos, r.rope_cos, r.rope_sin, T, Hkv, hd, kvd);
  tick(&ForwardProfile::prepare);
  attn.forward(K, layer, a.q.data(), a.k.data(), a.qkv.data() + qd + kvd, qkvd, a.o.data(), a.lse.data());
  tick(&ForwardProfile::attention);
  std::memcpy(a.x_mid.data(), x_in, T * D * sizeof(float));
  K.linear(a.x_mid.data(), a.o.data(), m.o, T, 1.f);
  tick(&ForwardProfile::o_proj);

  // MLP block: x_out = x_mid + down(silu(gate(n)) * up(n)), n = rmsnorm(x_mid)
  K.rmsnorm(a.xn2.data(), a.rstd2.data(), a.x_mid.data(), w.mlp_norm, T, D, eps, D, D);
  tick(&ForwardProfile::norms);
  K.linear(a.gu.data(), a.xn2.data(), m.gu, T);
  tick(&ForwardProfile::gate_up);
  K.swiglu(a.act.data(), a.gu.data(), T, F);
  tick(&ForwardProfile::swiglu);
  std::memcpy(x_out, a.x_mid.data(), T * D * sizeof(float));
  K.linear(x_out, a.act.data(), m.down, T, 1.f);
  tick(&ForwardProfile::down);
}

void layer_backward(Kernels& K, const ModelConfig& c, const LayerWeights& w, const LayerMatrices& m,
                    const LayerWeights& g, const LayerRows& r, const PackedAttention& attn, const float* x_in,
                    const LayerActs& a, LayerGradScratch& s, float* dx) {
  const int64_t T = r.T, D = c.hidden_size, F = c.intermediate_size, hd = c.head_dim;
  const int64_t Hq = c.num_heads, Hkv = c.num_kv_heads, qd = c.q_dim(), kvd = c.kv_dim(), qkvd = c.qkv_dim();
  s.resize(c, T);
  // MLP
  K.linear_backward(s.dact.data(), g.wdown, dx, a.act.data(), m.down, T);
  K.swiglu_backward(s.dgu.data(), s.dact.data(), a.gu.data(), T, F);
  K.linear_backward(s.dxn.data(), g.wgu, s.dgu.data(), a.xn2.data(), m.gu, T);
  K.rmsnorm_backward(dx, g.mlp_norm, s.dxn.data(), a.x_mid.data(), w.mlp_norm, a.rstd2.data(), T, D, D, D,
                     1.f);
  // attention
  K.linear_backward(s.do_.data(), g.wo, dx, a.o.data(), m.o, T);
  attn.backward(K, s.dq.data(), s.dk.data(), s.dqkv.data() + qd + kvd, s.do_.data(), a.o.data(), a.lse.data(),
                a.q.data(), a.k.data(), a.qkv.data() + qd + kvd, qkvd);
  K.rope_backward(s.dq.data(), r.pos, r.rope_cos, r.rope_sin, T, Hq, hd, qd);
  K.rope_backward(s.dk.data(), r.pos, r.rope_cos, r.rope_sin, T, Hkv, hd, kvd);
  if (c.qk_norm) {
    // x and dx share the qkv row stride; dy comes from the compact q/k buffers.
    for (int64_t h = 0; h < Hq; h++)
      K.rmsnorm_backward(s.dqkv.data() + h * hd, g.q_norm, s.dq.data() + h * hd, a.qkv.data() + h * hd,
                         w.q_norm, a.qn_rstd.data() + h * T, T, hd, qkvd, qd, 0.f);
    for (int64_t h = 0; h < Hkv; h++)
      K.rmsnorm_backward(s.dqkv.data() + qd + h * hd, g.k_norm, s.dk.data() + h * hd,
                         a.qkv.data() + qd + h * hd, w.k_norm, a.kn_rstd.data() + h * T, T, hd, qkvd, kvd,
                         0.f);
  } else {
#pragma omp parallel for schedule(static) if (T * qkvd > (1 << 16))
    for (int64_t t = 0; t < T; t++) {
      std::memcpy(s.dqkv.data() + t * qkvd, s.dq.data() + t * qd, qd * sizeof(float));
      std::memcpy(s.dqkv.data() + t * qkvd + qd, s.dk.data() + t * kvd, kvd * sizeof(float));
    }
  }
  if (g.bqkv) K.bias_backward(g.bqkv, s.dqkv.data(), T, qkvd, qkvd);
  K.linear_backward(s.dxn.data(), g.wqkv, s.dqkv.data(), a.xn1.data(), m.qkv, T);
  K.rmsnorm_backward(dx, g.attn_norm, s.dxn.data(), x_in, w.attn_norm, a.rstd1.data(), T, D, D, D, 1.f);
}

}  // namespace r1
