#include "train/zero_task.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"
#include "core/rng.h"
#include "tokenizer/chat_template.h"

namespace r1 {

namespace {

constexpr uint64_t kSplitSalt = 0x2e50'5e11'0000'0001ULL;
constexpr std::string_view kExcerptMarker = "User: ";
constexpr std::string_view kDirectThink = " <think> I know this. </think>";

int64_t pow10(int d) {
  int64_t p = 1;
  for (int i = 0; i < d; i++) p *= 10;
  return p;
}

void check_config(const ZeroTaskConfig& cfg) {
  if (cfg.digits < 1 || cfg.digits > 9) fail("zero task: digits must be 1..9, got {}", cfg.digits);
  auto frac_ok = [](double f) { return f >= 0.0 && f <= 1.0; };
  auto mix_ok = [&](const ZeroMix& m) {
    return frac_ok(m.worked) && frac_ok(m.sloppy) && m.worked + m.sloppy <= 1.0;
  };
  if (!frac_ok(cfg.full_template_frac) || !mix_ok(cfg.template_mix) || !mix_ok(cfg.excerpt_mix))
    fail(
        "zero task: fractions must lie in [0, 1] with worked + sloppy <= 1 (template {}: worked {}, sloppy "
        "{}; "
        "excerpts: worked {}, sloppy {})",
        cfg.full_template_frac, cfg.template_mix.worked, cfg.template_mix.sloppy, cfg.excerpt_mix.worked,
        cfg.excerpt_mix.sloppy);
}

const ChatTemplate& r1zero() {
  static const ChatTemplate t = ChatTemplate::load("r1zero");
  return t;
}

}  // namespace

bool zero_is_test(int64_t a, int64_t b) {
  // The unordered pair: a+b and its mirror b+a (the same sum, the same worked columns) fall on the
  // same side, so no rewriting of a held-out problem is trained on.
  const auto lo = static_cast<uint64_t>(std::min(a, b)), hi = static_cast<uint64_t>(std::max(a, b));
  return hash_u64(kSplitSalt, lo, hi) % kZeroTestModulus == 0;
}

ZeroProblem zero_problem(int64_t a, int64_t b) {
  if (a < 0 || b < 0) fail("zero task: operands must be non-negative, got {} and {}", a, b);
  ZeroProblem p;
  p.a = a;
  p.b = b;
  p.question = "Compute " + std::to_string(a) + "+" + std::to_string(b);
  p.answer = std::to_string(a + b);
  return p;
}

std::vector<ZeroProblem> zero_problems(const ZeroTaskConfig& cfg, bool test, int64_t n) {
  check_config(cfg);
  const int64_t lo = cfg.digits == 1 ? 0 : pow10(cfg.digits - 1), span = pow10(cfg.digits) - lo;
  // Rejection sampling over the split (about span^2 / kZeroTestModulus test problems, the rest
  // train); the draw cap keeps a request near or beyond the split's size from looping.
  const double share = test ? 1.0 / kZeroTestModulus : 1.0 - 1.0 / kZeroTestModulus;
  const double split_size = share * static_cast<double>(span) * static_cast<double>(span);
  if (static_cast<double>(n) > 0.9 * split_size)
    fail("zero task: {} distinct {} problems of {} digits asked for; the split holds about {}", n,
         test ? "test" : "train", cfg.digits, static_cast<int64_t>(split_size));
  std::vector<ZeroProblem> out;
  std::set<std::pair<int64_t, int64_t>> seen;
  const uint64_t stream = test ? 0x7e57 : 0x7a1;
  const uint64_t max_draws = 64 * static_cast<uint64_t>(span) * static_cast<uint64_t>(span) + 1024;
  for (uint64_t i = 0; static_cast<int64_t>(out.size()) < n; i++) {
    if (i == max_draws)
      fail("zero task: found only {} of {} distinct {} problems of {} digits", out.size(), n,
           test ? "test" : "train", cfg.digits);
    const int64_t a =
        lo + static_cast<int64_t>(hash_u64(cfg.seed, stream, i, 0) % static_cast<uint64_t>(span));
    const int64_t b =
        lo + static_cast<int64_t>(hash_u64(cfg.seed, stream, i, 1) % static_cast<uint64_t>(span));
    if (zero_is_test(a, b) != test || !seen.emplace(a, b).second) continue;
    out.push_back(zero_problem(a, b));
  }
  return out;
}

std::string zero_prompt(const ZeroProblem& p) {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  msgs.push_back({{"role", "user"}, {"content", p.question}});
  return r1zero().render(msgs);
}

std::string zero_worked_completion(const ZeroProblem& p) {
  const std::string sa = std::to_string(p.a), sb = std::to_string(p.b);
  const size_t n = std::max(sa.size(), sb.size());
  std::string out = " <think>", partial;
  int carry = 0;
  for (size_t i = 0; i < n; i++) {
    const int da = i < sa.size() ? sa[sa.size() - 1 - i] - '0' : 0;
    const int db = i < sb.size() ? sb[sb.size() - 1 - i] - '0' : 0;
    const int s = da + db + carry;
    // The last column writes its whole sum (the carry out is the answer's leading digit).
    partial = (i + 1 == n ? std::to_string(s) : std::to_string(s % 10)) + partial;
    out += (i ? ", " : " ") + std::to_string(da) + "+" + std::to_string(db) + (carry ? "+1" : "") + "=" +
           std::to_string(s) + " " + partial;
    carry = s / 10;
  }
  R1_CHECK(partial == p.answer);
  return out + " </think> <answer> " + p.answer + " </answer>";
}

std::string zero_direct_completion(const ZeroProblem& p) {
  return std::string(kDirectThink) + " <answer> " + p.answer + " </answer>";
}

std::string zero_sloppy_completion(const ZeroProblem& p) {
  return std::string(kDirectThink) + " " + p.answer;
}

std::string_view zero_excerpt_marker() {
  return kExcerptMarker;
}

std::vector<ZeroDoc> zero_corpus(const ZeroTaskConfig& cfg, int64_t docs) {
  check_config(cfg);
  if (docs < 1) fail("zero task: the corpus needs at least one document, got {}", docs);
  // A pool of distinct training problems, drawn from with repetition (as web text repeats).
  const int64_t span = pow10(cfg.digits) - (cfg.digits == 1 ? 0 : pow10(cfg.digits - 1));
  const int64_t pool_size =
      std::min<int64_t>(docs, static_cast<int64_t>(0.4 * static_cast<double>(span * span)));
  const std::vector<ZeroProblem> pool = zero_problems(cfg, false, pool_size);
  std::vector<ZeroDoc> out;
  out.reserve(docs);
  for (int64_t d = 0; d < docs; d++) {
    ZeroDoc doc;
    doc.problem = pool[hash_u64(cfg.seed, 0xd0c, static_cast<uint64_t>(d), 0) % pool.size()];
    doc.full_template =
        uniform01(hash_u64(cfg.seed, 0xd0c, static_cast<uint64_t>(d), 2)) < cfg.full_template_frac;
    const ZeroMix& mix = doc.full_template ? cfg.template_mix : cfg.excerpt_mix;
    const double u = uniform01(hash_u64(cfg.seed, 0xd0c, static_cast<uint64_t>(d), 1));
    doc.kind = u < mix.worked                ? ZeroDocKind::kWorked
               : u < mix.worked + mix.sloppy ? ZeroDocKind::kSloppy
                                             : ZeroDocKind::kDirect;
    std::string prompt = zero_prompt(doc.problem);
    if (!doc.full_template) {
      const size_t at = prompt.rfind(kExcerptMarker);
      R1_CHECK(at != std::string::npos);
      prompt.erase(0, at);
    }
    doc.text = prompt + (doc.kind == ZeroDocKind::kWorked   ? zero_worked_completion(doc.problem)
                         : doc.kind == ZeroDocKind::kSloppy ? zero_sloppy_completion(doc.problem)
                                                            : zero_direct_completion(doc.problem));
    out.push_back(std::move(doc));
  }
  return out;
}

std::vector<std::string> builtin_zero_corpus(int64_t docs, uint64_t seed) {
  ZeroTaskConfig cfg;
  cfg.seed = seed;
  std::vector<std::string> out;
  out.reserve(docs);
  for (ZeroDoc& d : zero_corpus(cfg, docs)) out.push_back(std::move(d.text));
  return out;
}

const char* default_zero_pretrain_recipe() {
  return R"(# r1 zero's base model: a 0.77M-parameter Llama pretrained on builtin:zero (train/zero_task.h,
# docs/zero_task_notes.md).
[model]
path = ""
arch = "llama"
hidden_size = 128
intermediate_size = 352
num_layers = 4
num_heads = 4
num_kv_heads = 2
head_dim = 32
rope_theta = 10000.0
tie_word_embeddings = true
init_std = 0.02

[data]
path = "builtin:zero"
seq_len = 512
builtin_docs = 60000

[train]
steps = 1000            # ~4.1M tokens: ~4.5 minutes at ~15k tokens/s on 2 cores
batch_tokens = 4096
grad_accum = 1
lr = 3e-3
schedule = "cosine"
warmup_steps = 20
min_lr_ratio = 0.1
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
eps = 1e-8
grad_clip = 1.0
seed = 1
threads = 0

[output]
dir = "runs/zero-base"
save_every = 200
overwrite = true
)";
}

}  // namespace r1
