#include "model/infer.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include "core/error.h"
#include "kernels/blas.h"
#include "kernels/ops.h"
#include "model/layer.h"

namespace r1 {

namespace {
// Query vectors (rows x heads of one kv group) per attention task: enough to reuse each K/V
// block from L1 several times, small enough that a prefill chunk still splits across threads.
constexpr int64_t kTaskQueries = 16;

// A KV cache element as fp32 (a bf16 element is the top half of one).
inline float kv_f32(float x) {
  return x;
}
inline float kv_f32(uint16_t x) {
  return std::bit_cast<float>(static_cast<uint32_t>(x) << 16);
}

// One query against one block of keys, online softmax (Milakov & Gimelshein): q (hd, scaled), K
// tile kt (hd, B) transposed, V tile vt (B, hd), keys 0..nv-1 of the block; m, l: the running max
// and sum; acc (hd): the unnormalised output; s: B floats of scratch.
template <class Elem>
using AttendFn = void (*)(const float* q, const Elem* kt, const Elem* vt, int64_t B, int64_t hd, int64_t nv,
                          float& m, float& l, float* acc, float* s);

template <class Elem>
void attend_generic(const float* q, const Elem* kt, const Elem* vt, int64_t B, int64_t hd, int64_t nv,
                    float& m, float& l, float* acc, float* s) {
  std::fill_n(s, nv, 0.f);
  // Four head-dim rows per pass: the adds into s form a tree, not a chain of hd FMAs.
  int64_t d0 = 0;
  for (; d0 + 4 <= hd; d0 += 4) {
    const float q0 = q[d0], q1 = q[d0 + 1], q2 = q[d0 + 2], q3 = q[d0 + 3];
    const Elem *k0 = kt + d0 * B, *k1 = k0 + B, *k2 = k1 + B, *k3 = k2 + B;
#pragma omp simd
    for (int64_t j = 0; j < nv; j++)
      s[j] += (q0 * kv_f32(k0[j]) + q1 * kv_f32(k1[j])) + (q2 * kv_f32(k2[j]) + q3 * kv_f32(k3[j]));
  }
  for (; d0 < hd; d0++) {
    const float qd = q[d0];
    const Elem* krow = kt + d0 * B;
#pragma omp simd
    for (int64_t j = 0; j < nv; j++) s[j] += qd * kv_f32(krow[j]);
  }
  float mx = m;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < nv; j++) mx = std::max(mx, s[j]);
  const float corr = std::exp(m - mx);
  const float sum = ops::exp_shifted(s, nv, mx);
  l = l * corr + sum;
  m = mx;
#pragma omp simd
  for (int64_t d = 0; d < hd; d++) acc[d] *= corr;
  for (int64_t j = 0; j < nv; j++) {
    const float pj = s[j];
    const Elem* vr = vt + j * hd;
#pragma omp simd
    for (int64_t d = 0; d < hd; d++) acc[d] += pj * kv_f32(vr[d]);
  }
}

// The same for blocks of 16 keys and hd = 16 * NV, in 16-lane vectors (one zmm with AVX-512):
// the 16 scores are one vector, the output NV vectors held in registers across the block.
using f32x16 = float __attribute__((vector_size(64)));
using u32x16 = uint32_t __attribute__((vector_size(64)));
using u16x16 = uint16_t __attribute__((vector_size(32)));
inline f32x16 load16(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline f32x16 load16(const uint16_t* p) {
#ifdef __AVX512F__  // GCC 12 splits the generic widening below into two halves
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __mmask16 all = 0xffff;  // the maskz forms: GCC 12 warns on the unmasked ones' undefined source
  return std::bit_cast<f32x16>(_mm512_maskz_slli_epi32(all, _mm512_maskz_cvtepu16_epi32(all, h), 16));
#else
  u16x16 h;
  std::memcpy(&h, p, sizeof(h));
  return std::bit_cast<f32x16>(__builtin_convertvector(h, u32x16) << 16);
#endif
}

template <class Elem, int NV>
void attend_16(const float* q, const Elem* kt, const Elem* vt, int64_t, int64_t, int64_t nv, float& m,
               float& l, float* acc, float* s) {
  constexpr int hd = 16 * NV;
  f32x16 s0 = {}, s1 = {}, s2 = {}, s3 = {};
  for (int d = 0; d < hd; d += 4) {
    s0 += q[d] * load16(kt + d * 16);
    s1 += q[d + 1] * load16(kt + (d + 1) * 16);
    s2 += q[d + 2] * load16(kt + (d + 2) * 16);
    s3 += q[d + 3] * load16(kt + (d + 3) * 16);
  }
  const f32x16 sv = (s0 + s1) + (s2 + s3);
  float mx = m;
  for (int64_t j = 0; j < nv; j++) mx = std::max(mx, sv[j]);
  std::memcpy(s, &sv, sizeof(sv));
  const float corr = std::exp(m - mx);
  const float sum = ops::exp_shifted(s, nv, mx);
  l = l * corr + sum;
  m = mx;
  f32x16 a[NV];
  for (int v = 0; v < NV; v++) a[v] = load16(acc + 16 * v) * corr;
  for (int64_t j = 0; j < nv; j++) {
    const float pj = s[j];
    for (int v = 0; v < NV; v++) a[v] += pj * load16(vt + j * hd + 16 * v);
  }
  std::memcpy(acc, a, sizeof(a));
}
}  // namespace

CachedForward::CachedForward(Model& model, DType compute) : model_(model), compute_(compute) {
  if (compute != DType::F32 && compute != DType::BF16)
    fail("cached forward: compute dtype {} is not supported (F32 or BF16)", dtype_name(compute));
  if (model.config().score_head)
    fail("cached forward: {} is a reward model (a score head, no LM head): it scores, it cannot generate",
         model.config().arch_name());
  if (compute == DType::BF16) packed_ = std::make_unique<PackedWeights>(model_);
}

size_t CachedForward::weight_copy_bytes() const {
  return packed_ ? packed_->bytes() : 0;
}
int64_t CachedForward::weight_packs() const {
  return packed_ ? packed_->packs() : 0;
}
void CachedForward::sync_weights() {
  if (packed_) packed_->sync(model_);
}
bool CachedForward::refresh_weights() {
  return packed_ && packed_->refresh(model_);
}

bool CachedForward::run(KvCache& cache, std::span<const SeqTokens> batch, float* logits, bool all_positions) {
  const ModelConfig& c = model_.config();
  const int64_t D = c.hidden_size, V = c.vocab_size, hd = c.head_dim;
  const int64_t Hq = c.num_heads, Hkv = c.num_kv_heads;
  const int L = c.num_layers;
  if (cache.num_layers() != L || cache.kv_heads() != Hkv || cache.head_dim() != hd)
    fail(
        "cached forward: the KV cache ({} layers, {} kv heads, head_dim {}) does not match the model "
        "({}, {}, {})",
        cache.num_layers(), cache.kv_heads(), cache.head_dim(), L, Hkv, hd);
  const int64_t n = static_cast<int64_t>(batch.size());
  std::vector<KvCache::SeqId> ids;
  int64_t need = 0;
  for (int64_t i = 0; i < n; i++) {
    const SeqTokens& it = batch[i];
    if (!cache.alive(it.seq)) fail("cached forward: item {}: sequence {} does not exist", i, it.seq);
    if (it.tokens.empty()) fail("cached forward: item {}: no new tokens for sequence {}", i, it.seq);
    for (int32_t t : it.tokens)
      if (t < 0 || t >= V)
        fail("cached forward: item {}: token id {} is outside the vocabulary (size {})", i, t, V);
    ids.push_back(it.seq);
    need += cache.blocks_needed(it.seq, static_cast<int64_t>(it.tokens.size()));
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    fail("cached forward: a sequence appears twice in one batch");
  if (need > cache.free_blocks()) return false;
  refresh_weights();  // the parameters changed since the last pack (an optimizer step)

  // Lay out the packed batch: rows of item i take positions length(seq) onwards.
  tokens_.clear(), pos_.clear(), row_item_.clear(), tables_.clear(), tasks_.clear();
  std::vector<int64_t> last_row(n);
  int32_t max_pos = 0;
  for (int64_t i = 0; i < n; i++) {
    const SeqTokens& it = batch[i];
    const int64_t start = cache.length(it.seq), cnt = static_cast<int64_t>(it.tokens.size());
    R1_CHECK(cache.append(it.seq, cnt));
    const int64_t r0 = static_cast<int64_t>(tokens_.size());
    for (int64_t j = 0; j < cnt; j++) {
      tokens_.push_back(it.tokens[j]);
      pos_.push_back(static_cast<int32_t>(start + j));
      row_item_.push_back(static_cast<int32_t>(i));
    }
    last_row[i] = r0 + cnt - 1;
    max_pos = std::max(max_pos, pos_.back());
  }
  // Attention tasks. A prefill chunk: a few rows x one kv head each (each K/V block is reused by
  // the task's queries from L1). A decode row: every kv head at once, so that a task walks its
  // sequence's blocks reading each block's K tiles (then V tiles) of all heads, which lie side by
  // side, as one run the hardware prefetcher can follow; heads are split only when there are too
  // few sequences to keep the threads busy.
  int64_t decode_rows = 0;
  for (int64_t i = 0; i < n; i++) decode_rows += batch[i].tokens.size() == 1;
  const int64_t want = 4 * omp_get_max_threads();
  const int heads_per_decode_task = decode_rows >= want
                                        ? static_cast<int>(Hkv)
                                        : static_cast<int>(std::max<int64_t>(1, Hkv * decode_rows / want));
  const int64_t rows_per_task = std::max<int64_t>(1, kTaskQueries / (Hq / Hkv));
  for (int64_t i = 0; i < n; i++) {
    const int64_t r0 = last_row[i] - static_cast<int64_t>(batch[i].tokens.size()) + 1, r1 = last_row[i] + 1;
    const int hs = r1 - r0 == 1 ? heads_per_decode_task : 1;
    for (int64_t a = r0; a < r1; a += rows_per_task)
      for (int h = 0; h < Hkv; h += hs)
        tasks_.push_back(
            {i, a, std::min(r1, a + rows_per_task), h, static_cast<int>(std::min<int64_t>(Hkv, h + hs))});
  }
  for (int64_t i = 0; i < n; i++) tables_.push_back(cache.block_table(batch[i].seq).data());
  model_.ensure_rope(max_pos + 1);

  const int64_t T = static_cast<int64_t>(tokens_.size());
  x_.resize(T * D), x_next_.resize(T * D);
  Weights W = model_.weights();
  ForwardProfile* prof = profiling_ ? &profile_ : nullptr;
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t_start = Clock::now();

  cache_ = &cache;
  const LayerRows rows{T, pos_.data(), model_.rope_cos(), model_.rope_sin()};
  kernels_.embedding(x_.data(), W.embed, tokens_.data(), T, D);
  for (int l = 0; l < L; l++) {
    const LayerMatrices m = packed_ ? packed_->layer(W, l) : layer_matrices(c, W, l);
    layer_forward(kernels_, c, W.layers[l], m, l, rows, x_.data(), x_next_.data(), acts_, *this, prof);
    x_.swap(x_next_);
  }
  cache_ = nullptr;

  // Final norm and LM head, only on the rows whose logits are wanted.
  const Clock::time_point t_head = Clock::now();
  const int64_t R = all_positions ? T : n;
  last_.resize(R * D), last_rstd_.resize(R);
  if (all_positions) {
    kernels_.rmsnorm(last_.data(), last_rstd_.data(), x_.data(), W.norm, T, D, c.rms_norm_eps, D, D);
  } else {
    for (int64_t i = 0; i < n; i++)
      kernels_.rmsnorm(last_.data() + i * D, last_rstd_.data() + i, x_.data() + last_row[i] * D, W.norm, 1, D,
                       c.rms_norm_eps, D, D);
  }
  kernels_.linear(logits, last_.data(), packed_ ? packed_->head(W) : head_matrix(c, W), R);
  if (profiling_) {
    const Clock::time_point t_end = Clock::now();
    profile_.head += std::chrono::duration<double>(t_end - t_head).count();
    profile_.total += std::chrono::duration<double>(t_end - t_start).count();
    profile_.calls++;
  }
  return true;
}

// The layer's attention over the cache: write each new row's K (after the q/k norms and RoPE,
// transposed into the (hd, B) tile of its block) and V ((B, hd) tile) into the cache, one
// parallel pass over the rows, then attend over everything cached.
void CachedForward::forward(Kernels&, int layer, const float* q, const float* k, const float* v, int64_t ldv,
                            float* out, float*) {
  KvCache& cache = *cache_;
  const int64_t T = static_cast<int64_t>(tokens_.size()), B = cache.block_size(),
                kvd = model_.config().kv_dim();
#pragma omp parallel for schedule(static) if (T * kvd > (1 << 15))
  for (int64_t t = 0; t < T; t++) {
    const int64_t p = pos_[t], slot = p % B;
    const int32_t block = tables_[row_item_[t]][p / B];
    if (cache.dtype() == DType::BF16)
      store_kv<uint16_t>(cache, layer, block, slot, k + t * kvd, v + t * ldv);
    else
      store_kv<float>(cache, layer, block, slot, k + t * kvd, v + t * ldv);
  }
  q_in_ = q, o_out_ = out;
  if (cache.dtype() == DType::BF16)
    attention_tiles<uint16_t>(cache, layer);
  else
    attention_tiles<float>(cache, layer);
}

// Writes one token's K (kv_dim, after norm and RoPE) and V into slot of block, every kv head.
template <class Elem>
void CachedForward::store_kv(KvCache& cache, int layer, int32_t block, int64_t slot, const float* k,
                             const float* v) {
  const int64_t hd = cache.head_dim(), B = cache.block_size(), kvd = cache.kv_heads() * hd;
  const Elem *kc, *vc;
  if constexpr (std::is_same_v<Elem, uint16_t>) {  // round the row at once (vectorised), then place it
    thread_local std::vector<uint16_t> buf;
    buf.resize(2 * kvd);
    f32_to_bf16(k, buf.data(), kvd);
    f32_to_bf16(v, buf.data() + kvd, kvd);
    kc = buf.data(), vc = buf.data() + kvd;
  } else {
    kc = k, vc = v;
  }
  for (int h = 0; h < cache.kv_heads(); h++) {
    Elem* kt = cache.k_tile<Elem>(layer, block, h);
    const Elem* kr = kc + h * hd;
    for (int64_t d = 0; d < hd; d++) kt[d * B + slot] = kr[d];
    std::memcpy(cache.v_tile<Elem>(layer, block, h) + slot * hd, vc + h * hd, hd * sizeof(Elem));
  }
}

// Causal attention of every new row over its sequence's cached keys 0..pos, one task per
// (rows, kv head): the group's query heads share each K/V block read, which is what bounds
// decoding. Online softmax over blocks (running max m, sum l, unnormalised output acc).
template <class Elem>
void CachedForward::attention_tiles(const KvCache& cache, int layer) {
  const ModelConfig& c = model_.config();
  const int64_t hd = c.head_dim, qd = c.q_dim(), group = c.num_heads / c.num_kv_heads, B = cache.block_size();
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  const int64_t ntask = static_cast<int64_t>(tasks_.size());
  int64_t work = 0;
  for (const Task& tk : tasks_) work += (tk.r1 - tk.r0) * (pos_[tk.r1 - 1] + 1);
  work *= group * hd;
  // The kernel for one query against one block: registers for the common shapes, loops otherwise.
  AttendFn<Elem> attend = attend_generic<Elem>;
  if (B == 16 && hd == 64) attend = attend_16<Elem, 4>;
  if (B == 16 && hd == 128) attend = attend_16<Elem, 8>;
#pragma omp parallel if (work > (1 << 15))
  {
    const int64_t maxq = std::max(kTaskQueries, group) * c.num_kv_heads;  // rows x group x heads of a task
    std::vector<float> qs(maxq * hd), acc(maxq * hd), m(maxq), lsum(maxq), s(B);
#pragma omp for schedule(dynamic, 1)
    for (int64_t ti = 0; ti < ntask; ti++) {
      const Task& tk = tasks_[ti];
      const int64_t nqh = (tk.r1 - tk.r0) * group, nq = nqh * (tk.h1 - tk.h0);  // queries per head, in all
      const int32_t* table = tables_[tk.item];
      // Query qi = (head h0 + qi / nqh, row r0 + (qi % nqh) / group, query head (qi % nqh) % group).
      auto q_offset = [&](int64_t qi) {
        const int64_t h = tk.h0 + qi / nqh, r = qi % nqh;
        return (tk.r0 + r / group) * qd + (h * group + r % group) * hd;
      };
      for (int64_t qi = 0; qi < nq; qi++) {
        const float* src = q_in_ + q_offset(qi);
        for (int64_t d = 0; d < hd; d++) qs[qi * hd + d] = src[d] * scale;
      }
      std::fill_n(acc.begin(), nq * hd, 0.f);
      std::fill_n(m.begin(), nq, -std::numeric_limits<float>::infinity());
      std::fill_n(lsum.begin(), nq, 0.f);
      const int64_t pmax = pos_[tk.r1 - 1];
      for (int64_t b = 0; b * B <= pmax; b++) {
        for (int h = tk.h0; h < tk.h1; h++) {
          const Elem* kt = cache.k_tile<Elem>(layer, table[b], h);
          const Elem* vt = cache.v_tile<Elem>(layer, table[b], h);
          for (int64_t qi = (h - tk.h0) * nqh; qi < (h - tk.h0 + 1) * nqh; qi++) {
            const int64_t p = pos_[tk.r0 + (qi % nqh) / group];
            if (b * B > p) continue;
            const int64_t nv = std::min(B, p - b * B + 1);  // keys b*B .. p of this block
            attend(qs.data() + qi * hd, kt, vt, B, hd, nv, m[qi], lsum[qi], acc.data() + qi * hd, s.data());
          }
        }
      }
      for (int64_t qi = 0; qi < nq; qi++) {
        float* dst = o_out_ + q_offset(qi);
        const float inv = 1.f / lsum[qi];
        for (int64_t d = 0; d < hd; d++) dst[d] = acc[qi * hd + d] * inv;
      }
    }
  }
}

}  // namespace r1
