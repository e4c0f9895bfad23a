#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"

namespace r1 {

namespace {

// Lanes of the vectorised loops: independent accumulators let the compiler use SIMD without
// reassociating floating-point sums (the order, and so the result, is fixed by the code).
constexpr int kLanes = 16;
// Tokens per block of the inverse-CDF walk: find the block from per-block sums, then walk inside it.
constexpr int64_t kBlock = 256;
// Most buckets of one level of the top-k/top-p cut search, and the candidate count below which
// sorting is cheaper.
constexpr int kBuckets = 1024;
constexpr size_t kSortMax = 256;
constexpr int kMaxDepth = 8;

// Sum of e[0, n) in kLanes independent double accumulators: the loop vectorises without
// reassociating floating-point additions, so the result is fixed by the code.
double sum_lanes(const float* e, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += e[i + j];
  }
  double sum = 0;
  for (; i < n; ++i) sum += e[i];
  for (double a : acc) sum += a;
  return sum;
}

// Sum over i < n of exp((x[i] - m) * s), each term also stored in w[i] when kStore. Terms are
// computed a chunk at a time in a plain loop (which vectorises), then summed.
template <bool kStore>
double exp_sum(const float* x, int64_t n, float m, float s, float* w) {
  constexpr int64_t kChunk = 256;
  float local[kChunk];
  double sum = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t len = std::min(kChunk, n - i0);
    float* e = kStore ? w + i0 : local;
    for (int64_t i = 0; i < len; ++i) e[i] = ops::exp_neg((x[i0 + i] - m) * s);
    sum += sum_lanes(e, len);
  }
  return sum;
}

struct Scan {
  float max, min;
  int32_t argmax;  // lowest id among the maxima
};

// One pass for the max, the argmax and the min; throws on NaN or infinite logits. x - x is NaN
// exactly for NaN and +-inf, so one vectorisable sum detects both.
Scan scan_logits(const float* x, int64_t V) {
  float mx[kLanes], mn[kLanes], bad[kLanes];
  int32_t arg[kLanes];
  std::fill_n(mx, kLanes, x[0]);
  std::fill_n(mn, kLanes, x[0]);
  std::fill_n(bad, kLanes, 0.0f);
  std::fill_n(arg, kLanes, 0);
  int64_t i = 0;
  for (; i + kLanes <= V; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = x[i + j];
      const bool gt = v > mx[j];
      arg[j] = gt ? static_cast<int32_t>(i + j) : arg[j];
      mx[j] = gt ? v : mx[j];
      mn[j] = v < mn[j] ? v : mn[j];
      bad[j] += v - v;
    }
  }
  Scan s{mx[0], mn[0], arg[0]};
  float nonfinite = 0;
  for (int j = 0; j < kLanes; ++j) {
    if (mx[j] > s.max || (mx[j] == s.max && arg[j] < s.argmax)) s.max = mx[j], s.argmax = arg[j];
    s.min = std::min(s.min, mn[j]);
    nonfinite += bad[j];
  }
  for (; i < V; ++i) {
    const float v = x[i];
    if (v > s.max) s.max = v, s.argmax = static_cast<int32_t>(i);
    s.min = std::min(s.min, v);
    nonfinite += v - v;
  }
  if (nonfinite != 0 || std::isnan(nonfinite)) {
    for (int64_t k = 0; k < V; ++k) {
      if (!std::isfinite(x[k]))
        fail("logits contain {} at token {}", std::isnan(x[k]) ? "NaN" : x[k] > 0 ? "inf" : "-inf", k);
    }
  }
  return s;
}

// Ranking order of top-k and top-p: higher logit first, then lower id.
struct Higher {
  const float* x;
  bool operator()(int32_t a, int32_t b) const { return x[a] > x[b] || (x[a] == x[b] && a < b); }
};

// One level of the cut search over n candidates (ids 0..n-1 when kAll, else list[0, n)): buckets
// their logits between lo and hi (bucket 0 highest; the map is monotone, so buckets respect
// Higher order), finds the bucket where the running total of value reaches target, subtracts the
// buckets above it from target and writes that bucket's ids, in input order, to out (which may be
// list itself). Returns their count.
template <bool kAll, class Value>
size_t cut_level(const float* x, const int32_t* list, size_t n, float lo, float hi, double& target,
                 Value value, SamplerWorkspace& ws, int32_t* out) {
  const auto id_at = [list](size_t i) { return kAll ? static_cast<int32_t>(i) : list[i]; };
  // About 4 candidates a bucket up to kBuckets, so small candidate sets are not dominated by
  // clearing and scanning the histogram.
  const int buckets = static_cast<int>(std::clamp<size_t>(n / 4, 64, kBuckets));
  const double scale = buckets / (static_cast<double>(hi) - lo);
  uint16_t* bucket = ws.bucket.data();
  for (size_t i = 0; i < n; ++i) {
    const double d = (static_cast<double>(hi) - x[id_at(i)]) * scale;
    bucket[i] = static_cast<uint16_t>(std::min(d, buckets - 1.0));
  }
  ws.hist.assign(buckets, 0.0);
  for (size_t i = 0; i < n; ++i) ws.hist[bucket[i]] += value(id_at(i));
  // The last bucket holds lo, so it is never empty: a target out of reach (rounding) cuts there.
  int cut = 0;
  double before = 0;
  while (cut < buckets - 1 && before + ws.hist[cut] < target) before += ws.hist[cut++];
  target -= before;
  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {  // branch-free compaction
    out[m] = id_at(i);
    m += bucket[i] == cut;
  }
  return m;
}

// The last token kept by a cut in Higher order: the first at which the running total of value
// reaches target (value 1 and target k for top-k; value w and target top_p * mass for top-p).
// Candidates are ids 0..n-1 (list null) or list[0, n) in id order. Buckets the logits and
// recurses into the bucket where the cut falls, so only a small remainder is ever sorted.
template <class Value>
int32_t select_cut(const float* x, const int32_t* list, size_t n, float lo, float hi, double target,
                   Value value, SamplerWorkspace& ws) {
  int32_t* ids = ws.ids.data();
  size_t m = n;
  if (list == nullptr) {
    if (hi == lo)
      std::iota(ids, ids + n, 0);
    else
      m = cut_level<true>(x, nullptr, n, lo, hi, target, value, ws, ids);
  } else if (list != ids) {
    std::copy(list, list + n, ids);
  }
  // ids[0, m) stays in id order: every compaction keeps the input order.
  for (int depth = 0;; ++depth) {
    hi = lo = x[ids[0]];
    for (size_t i = 1; i < m; ++i) {
      hi = std::max(hi, x[ids[i]]);
      lo = std::min(lo, x[ids[i]]);
    }
    if (m <= kSortMax || hi == lo || depth == kMaxDepth) {
      if (hi != lo) std::sort(ids, ids + m, Higher{x});  // equal logits: id order is Higher order
      double acc = 0;
      for (size_t i = 0; i < m; ++i) {
        acc += value(ids[i]);
        if (acc >= target) return ids[i];
      }
      return ids[m - 1];
    }
    m = cut_level<false>(x, ids, m, lo, hi, target, value, ws, ids);
  }
}

// Inverse CDF over weights w[0, V) with per-block sums: find the block, then walk inside it.
int32_t draw_blocks(const float* w, int64_t V, const double* blocks, double total, double u) {
  const double target = u * total;
  double cum = 0;
  int64_t b = 0;
  const int64_t nb = (V + kBlock - 1) / kBlock;
  while (b < nb && cum + blocks[b] <= target) cum += blocks[b++];
  if (b == nb) {  // u * total rounded up to total: take the last token with weight
    for (int64_t i = V; i-- > 0;) {
      if (w[i] > 0) return static_cast<int32_t>(i);
    }
  }
  const int64_t end = std::min(V, (b + 1) * kBlock);
  int64_t last = b * kBlock;
  for (int64_t i = b * kBlock; i < end; ++i) {
    if (w[i] > 0) last = i;
    cum += w[i];
    if (cum > target) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);  // the in-block sum rounded differently from the block sum
}

// Fills ws.blocks with the block sums of w[0, V) and returns their total.
double block_sums(const float* w, int64_t V, SamplerWorkspace& ws) {
  double total = 0;
  for (int64_t b = 0; b * kBlock < V; ++b)
    total += ws.blocks[b] = sum_lanes(w + b * kBlock, std::min(kBlock, V - b * kBlock));
  return total;
}

}  // namespace

void SamplingParams::validate() const {
  if (!(temperature >= 0) || !std::isfinite(temperature))
    fail("temperature: must be a finite number >= 0, got {}", temperature);
  if (top_k < 0) fail("top_k: must be >= 0 (0 = off), got {}", top_k);
  if (!(top_p > 0 && top_p <= 1)) fail("top_p: must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0 && min_p < 1)) fail("min_p: must be in [0, 1), got {}", min_p);
}

uint64_t sample_key(uint64_t seed, uint64_t prompt_index, uint64_t sample_index, uint64_t position) {
  // The constant separates sampling from other streams keyed by the same seed (data order, init).
  return hash_u64(seed ^ 0x73616d706c696e67ULL, prompt_index, sample_index, position);
}

Draw sample_token(const float* logits, int64_t V, const SamplingParams& params, uint64_t key,
                  SamplerWorkspace& ws) {
  params.validate();
  if (V <= 0 || V > std::numeric_limits<int32_t>::max())
    fail("logits: vocabulary size must be in [1, 2^31), got {}", V);
  const Scan s = scan_logits(logits, V);
  const float inv_t = params.temperature > 0 ? 1 / params.temperature : 0;
  // A temperature so small that 1/t overflows is greedy in all but name.
  const bool greedy = params.greedy || params.temperature == 0 || !std::isfinite(inv_t);
  const bool top_k = params.top_k > 0 && params.top_k < V;
  const bool truncate = top_k || params.top_p < 1 || params.min_p > 0;

  // The log-prob is that of the tempered distribution before truncation, softmax(logits / T)
  // (T = 1 for greedy): what the GRPO objective's ratio, KL and entropy use.
  const float lp_scale = greedy ? 1.0f : inv_t;
  double z = -1;  // sum of exp((logit - max) * lp_scale): the log-prob's normaliser; -1 until computed
  int32_t token = s.argmax;
  if (!greedy) {
    if (ws.w.size() < static_cast<size_t>(V)) {
      ws.w.resize(V);
      ws.ids.resize(V);
      ws.bucket.resize(V);
      ws.blocks.resize((V + kBlock - 1) / kBlock);
    }
    float* w = ws.w.data();
    const double total = exp_sum<true>(logits, V, s.max, inv_t, w);
    z = total;
    if (truncate) {
      // Every step keeps a prefix in Higher order (min-p too, as w is monotone in the logit), so
      // the survivors are the tokens ranked at or above one cut token and with w >= min_p.
      int32_t cut = -1;  // none: top-k and top-p off
      if (top_k)
        cut = select_cut(
            logits, nullptr, V, s.min, s.max, params.top_k, [](int32_t) { return 1.0; }, ws);
      if (params.top_p < 1) {
        const auto weight = [w](int32_t id) { return static_cast<double>(w[id]); };
        if (cut < 0) {
          cut = select_cut(logits, nullptr, V, s.min, s.max, params.top_p * total, weight, ws);
        } else {
          // The top-k survivors, in id order, and their mass.
          int32_t* ids = ws.ids.data();
          const Higher higher{logits};
          size_t n = 0;
          double mass = 0;
          for (int32_t i = 0; i < V; ++i) {
            if (higher(i, cut) || i == cut) ids[n++] = i, mass += w[i];
          }
          cut = select_cut(logits, ids, n, 0, 0, params.top_p * mass, weight, ws);
        }
      }
      // Zero the weights of dropped tokens; w of the max logit is exactly 1.
      const float xc = cut < 0 ? -INFINITY : logits[cut];
      const float wmin = params.min_p;
      for (int32_t i = 0; i < V; ++i) {
        const bool ranked = logits[i] > xc || (logits[i] == xc && i <= cut);
        w[i] = ranked && w[i] >= wmin ? w[i] : 0.0f;
      }
    }
    const double kept = block_sums(w, V, ws);
    token = draw_blocks(w, V, ws.blocks.data(), kept, uniform01(key));
  }
  if (z < 0) z = exp_sum<false>(logits, V, s.max, lp_scale, nullptr);
  const double logprob = double((logits[token] - s.max) * lp_scale) - std::log(z);
  return {token, static_cast<float>(logprob)};
}

// ---- stop strings ----

std::vector<TokenLogprob> top_logprobs(const float* logits, int64_t V, const SamplingParams& params, int n) {
  params.validate();
  if (n < 0 || n > 20) fail("top_logprobs must be in [0, 20], got {}", n);
  if (V <= 0 || V > std::numeric_limits<int32_t>::max())
    fail("logits: vocabulary size must be in [1, 2^31), got {}", V);
  n = static_cast<int>(std::min<int64_t>(n, V));
  const Scan s = scan_logits(logits, V);
  const float inv_t = params.temperature > 0 ? 1 / params.temperature : 0;
  const bool greedy = params.greedy || params.temperature == 0 || !std::isfinite(inv_t);
  const float scale = greedy ? 1.0f : inv_t;
  const double log_z = std::log(exp_sum<false>(logits, V, s.max, scale, nullptr));
  // The n best by one pass keeping a small sorted list (n <= 20).
  std::vector<TokenLogprob> best;
  best.reserve(static_cast<size_t>(n) + 1);
  const auto higher = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  for (int32_t i = 0; i < V && n > 0; ++i) {
    if (static_cast<int>(best.size()) == n && !higher(i, best.back().token)) continue;
    auto at =
        std::find_if(best.begin(), best.end(), [&](const TokenLogprob& t) { return higher(i, t.token); });
    best.insert(at, {i, 0.0f});
    if (static_cast<int>(best.size()) > n) best.pop_back();
  }
  for (TokenLogprob& t : best)
    t.logprob = static_cast<float>(static_cast<double>((logits[t.token] - s.max) * scale) - log_z);
  return best;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) fail("stop: stop string {} is empty", i + 1);
    keep_ = std::max(keep_, stops_[i].size() - 1);
  }
}

size_t StopMatcher::feed(std::string_view new_text) {
  if (match_ != npos) {
    fed_ += new_text.size();
    return match_;
  }
  // A new match must end in new_text, so it starts at most keep_ bytes before it: searching the
  // kept tail plus new_text finds every match, and only new ones.
  const size_t base = fed_ - tail_.size();  // offset of tail_[0] in the whole text
  tail_.append(new_text);
  fed_ += new_text.size();
  size_t best = npos;
  for (const std::string& stop : stops_) best = std::min(best, tail_.find(stop));
  if (best != npos) {
    match_ = base + best;
    tail_.clear();
    return match_;
  }
  if (tail_.size() > keep_) tail_.erase(0, tail_.size() - keep_);
  return npos;
}

}  // namespace r1
