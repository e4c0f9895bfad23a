#include "model/memory.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/progress.h"

namespace r1 {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// Saturating arithmetic: kMax stands for "more than 64 bits can count".
uint64_t add(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kMax : r;
}
uint64_t mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kMax : r;
}
template <typename... T>
uint64_t mul(uint64_t a, uint64_t b, T... rest) {
  return mul(mul(a, b), rest...);
}
// A group of tensors starts 64-byte (16-float) aligned in the arena (Model's constructor).
uint64_t round16(uint64_t n) {
  return n > kMax - 15 ? kMax : (n + 15) / 16 * 16;
}
uint64_t dim(int v) {
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

// Element counts of the model's tensor groups, in the arena's order (see Model::Model).
struct Groups {
  std::vector<uint64_t> global;     // embedding, final norm, lm_head
  std::vector<uint64_t> per_layer;  // one layer's groups
};

Groups groups(const ModelConfig& c) {
  const uint64_t V = dim(c.vocab_size), D = dim(c.hidden_size), F = dim(c.intermediate_size),
                 hd = dim(c.head_dim);
  const uint64_t qd = mul(dim(c.num_heads), hd), kvd = mul(dim(c.num_kv_heads), hd);
  const uint64_t qkvd = add(qd, mul(2, kvd));
  Groups g;
  g.global = {mul(V, D), D};
  if (c.score_head)
    g.global.push_back(D);  // score.weight (1, D)
  else if (!c.tie_word_embeddings)
    g.global.push_back(mul(V, D));
  g.per_layer = {D, mul(qkvd, D)};
  if (c.attention_bias) g.per_layer.push_back(qkvd);
  g.per_layer.push_back(mul(D, qd));
  if (c.qk_norm) g.per_layer.push_back(mul(2, hd));
  g.per_layer.insert(g.per_layer.end(), {D, mul(2, F, D), mul(D, F)});
  return g;
}

uint64_t count(const ModelConfig& c, bool padded) {
  const Groups g = groups(c);
  auto sum = [&](const std::vector<uint64_t>& v) {
    uint64_t s = 0;
    for (uint64_t n : v) s = add(s, padded ? round16(n) : n);
    return s;
  };
  return add(sum(g.global), mul(dim(c.num_layers), sum(g.per_layer)));
}

// Reads the first line of a small file; empty if it cannot be read.
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

// A cgroup memory limit file's value, or kMax for "max", a huge v1 "no limit" or no file.
uint64_t limit_from(const std::string& path) {
  const std::string s = first_line(path);
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return kMax;
  return v;
}

}  // namespace

uint64_t bf16_weight_copy_bytes(const ModelConfig& c) {
  // bf16_packed_size (kernels/blas.h): rows rounded up to 16, columns to even.
  auto packed = [](uint64_t out, uint64_t in) { return mul(round16(out), add(in, in & 1)); };
  const uint64_t V = dim(c.vocab_size), D = dim(c.hidden_size), F = dim(c.intermediate_size),
                 hd = dim(c.head_dim);
  const uint64_t qd = mul(dim(c.num_heads), hd), kvd = mul(dim(c.num_kv_heads), hd);
  const uint64_t qkvd = add(qd, mul(2, kvd));
  const uint64_t layer = add(add(packed(qkvd, D), packed(D, qd)), add(packed(mul(2, F), D), packed(D, F)));
  return mul(add(mul(dim(c.num_layers), layer), packed(c.score_head ? 1 : V, D)), 2);
}

uint64_t model_param_count(const ModelConfig& c) {
  return count(c, false);
}

uint64_t model_arena_floats(const ModelConfig& c) {
  return count(c, true);
}

std::string describe_model_size(const ModelConfig& c) {
  using F = ConfigField;
  const uint64_t n = model_param_count(c);
  // The field that multiplies the count most: the ratio of the count to the count with that
  // field at 1. Ties go to the earlier field (the layer count first).
  struct Candidate {
    ConfigField field;
    int ModelConfig::*member;
  };
  const Candidate candidates[] = {{F::NumLayers, &ModelConfig::num_layers},
                                  {F::HiddenSize, &ModelConfig::hidden_size},
                                  {F::IntermediateSize, &ModelConfig::intermediate_size},
                                  {F::VocabSize, &ModelConfig::vocab_size},
                                  {F::NumHeads, &ModelConfig::num_heads},
                                  {F::HeadDim, &ModelConfig::head_dim},
                                  {F::NumKvHeads, &ModelConfig::num_kv_heads}};
  const Candidate* best = &candidates[0];
  long double best_ratio = 0;
  for (const Candidate& cand : candidates) {
    ModelConfig small = c;
    small.*cand.member = 1;
    const long double ratio = static_cast<long double>(n) /
                              std::max<long double>(1, static_cast<long double>(model_param_count(small)));
    if (ratio > best_ratio) best_ratio = ratio, best = &cand;
  }
  return fmt::format("a model of {} parameters ({} {})", format_param_count(n), c.key(best->field),
                     c.*best->member);
}

std::string format_param_count(uint64_t n) {
  return n == kMax ? std::string("more than 1.8e19") : format_count(static_cast<double>(n));
}

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes == kMax) return "more than 16 EiB";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u + 1 < static_cast<int>(std::size(kUnits))) v /= 1024, u++;
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.{}f} {}", v, v < 10 ? 2 : v < 100 ? 1 : 0, kUnits[u]);
}

uint64_t machine_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  uint64_t bytes =
      pages > 0 && page > 0 ? mul(static_cast<uint64_t>(pages), static_cast<uint64_t>(page)) : kMax;
  // The cgroup this process runs in (from /proc/self/cgroup), and the hierarchy's root, which
  // a container sees as its own cgroup.
  std::vector<std::string> files = {"/sys/fs/cgroup/memory.max",
                                    "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path.empty() || path.find("..") != std::string::npos) continue;
    if (controllers.empty()) files.push_back("/sys/fs/cgroup" + path + "/memory.max");  // v2
    std::stringstream list(controllers);
    for (std::string ctl; std::getline(list, ctl, ',');)
      if (ctl == "memory") files.push_back("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes");  // v1
  }
  for (const std::string& f : files) bytes = std::min(bytes, limit_from(f));
  return bytes;
}

uint64_t MemoryEstimate::total() const {
  uint64_t t = 0;
  for (uint64_t part : {params, reference, grads, optimizer, activations, logits, kv_pool, weight_copy})
    t = add(t, part);
  return t;
}

std::string MemoryEstimate::breakdown() const {
  std::string s;
  auto part = [&](const char* name, uint64_t bytes) {
    if (bytes == 0) return;
    s += fmt::format("{}{} {}", s.empty() ? "" : ", ", name, format_bytes(bytes));
  };
  part("parameters", params);
  part("frozen models", reference);  // the reference, a distillation teacher, reward models
  part("gradients", grads);
  part("AdamW moments", optimizer);
  part("activations", activations);
  part("logits", logits);
  part("KV cache", kv_pool);
  part("bf16 weight copy", weight_copy);
  return s;
}

MemoryEstimate estimate_model_memory(const ModelConfig& c) {
  MemoryEstimate e;
  e.params = mul(model_arena_floats(c), sizeof(float));
  return e;
}

uint64_t kv_pool_bytes(const ModelConfig& c, uint64_t budget_bytes, int block_size, DType dtype) {
  const uint64_t elem = dtype == DType::BF16 ? 2 : 4;
  const uint64_t per_block =
      mul(2, dim(c.num_layers), dim(c.num_kv_heads), dim(c.head_dim), elem, dim(block_size));
  if (per_block == 0) return 0;
  const uint64_t blocks = std::min<uint64_t>(budget_bytes / per_block, std::numeric_limits<int32_t>::max());
  // Each block also has a reference count and a free-list entry (two int32).
  return add(mul(blocks, per_block), mul(blocks, 8));
}

MemoryEstimate estimate_generation_memory(const ModelConfig& c, uint64_t kv_budget_bytes, int block_size,
                                          DType kv_dtype) {
  MemoryEstimate e = estimate_model_memory(c);
  e.kv_pool = kv_pool_bytes(c, kv_budget_bytes, block_size, kv_dtype);
  if (kv_dtype == DType::BF16) e.weight_copy = bf16_weight_copy_bytes(c);
  return e;
}

MemoryEstimate estimate_training_memory(const ModelConfig& c, const TrainingMemoryPlan& plan) {
  MemoryEstimate e = estimate_generation_memory(c, plan.kv_budget_bytes, plan.kv_block_size, plan.kv_dtype);
  e.grads = e.params;
  e.optimizer = mul(2, e.params);
  if (plan.reference_model) e.reference = e.params;
  e.reference = add(e.reference, plan.teacher_bytes);
  // Floats forward_backward keeps per token (Model::Activations): each layer's saved tensors (one
  // layer's with recomputation),
  // the residual stream at every layer boundary, the final norm, the backward pass's scratch
  // and the loss head's per-token statistics.
  const uint64_t L = dim(c.num_layers), D = dim(c.hidden_size), F = dim(c.intermediate_size),
                 Hq = dim(c.num_heads), Hkv = dim(c.num_kv_heads), hd = dim(c.head_dim),
                 V = dim(c.vocab_size);
  const uint64_t qd = mul(Hq, hd), kvd = mul(Hkv, hd), qkvd = add(qd, mul(2, kvd));
  uint64_t layer = 2;  // rstd1, rstd2
  for (uint64_t n : {mul(3, D), qkvd, mul(2, qd), kvd, Hq, mul(3, F)}) layer = add(layer, n);
  if (c.qk_norm) layer = add(layer, add(Hq, Hkv));
  uint64_t per_token = add(mul(plan.recompute ? 1 : L, layer), mul(add(L, 1), D));
  for (uint64_t n : {add(D, 1), mul(3, D), mul(3, F), mul(2, qd), kvd, qkvd, uint64_t{5}})
    per_token = add(per_token, n);
  if (plan.recompute) per_token = add(per_token, D);  // the rerun layer's output, discarded
  if (plan.compute == DType::BF16)                    // the policy's W and W^T copies, the reference's W copy
    e.weight_copy = add(e.weight_copy, mul(plan.reference_model ? 3 : 2, bf16_weight_copy_bytes(c)));
  const uint64_t T = plan.batch_tokens > 0 ? static_cast<uint64_t>(plan.batch_tokens) : 0;
  e.activations = mul(T, per_token, sizeof(float));
  // The head computes logits for at most 64M floats' worth of rows at once (Model::head_forward),
  // with the rows' inputs and their gradients beside them.
  const uint64_t chunk = V == 0 ? 0 : std::min<uint64_t>(T, std::max<uint64_t>(1, (uint64_t{64} << 20) / V));
  e.logits = mul(chunk, add(V, add(mul(2, D), 6)), sizeof(float));
  return e;
}

void check_fits_in_memory(const MemoryEstimate& e, std::string_view what) {
  const uint64_t need = e.total(), have = machine_memory_bytes();
  if (need > have)
    fail("{} needs {} ({}), more than this machine's {} of memory", what, format_bytes(need), e.breakdown(),
         format_bytes(have));
}

void check_model_memory(const ModelConfig& c, std::string_view source) {
  const MemoryEstimate e = estimate_model_memory(c);
  if (e.total() <= machine_memory_bytes()) return;  // the common case: no message to build
  check_fits_in_memory(e, fmt::format("{}: {}", source, describe_model_size(c)));
}

void check_training_memory(const ModelConfig& c, const TrainingMemoryPlan& plan, std::string_view source,
                           std::string_view batch_tokens_key) {
  const MemoryEstimate e = estimate_training_memory(c, plan);
  if (e.total() <= machine_memory_bytes()) return;
  check_fits_in_memory(e, fmt::format("{}: training {} with {} {}", source, describe_model_size(c),
                                      batch_tokens_key, plan.batch_tokens));
}

int64_t fit_batch_tokens(const ModelConfig& c, TrainingMemoryPlan plan, uint64_t budget_bytes) {
  auto fits = [&](int64_t tokens) {
    plan.batch_tokens = tokens;
    return estimate_training_memory(c, plan).total() <= budget_bytes;
  };
  if (!fits(1)) return 0;
  int64_t lo = 1, hi = 2;  // fits(lo); find the first hi that does not
  while (hi < (int64_t{1} << 40) && fits(hi)) lo = hi, hi *= 2;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace r1
