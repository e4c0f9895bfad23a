#include "train/zero_task.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"
#include "core/rng.h"
#include "tokenizer/chat_template.h"

namespace r1 {

namespace {

constexpr uint64_t kSplitSalt = 0x2e50'5e11'0000'0002ULL;
constexpr std::string_view kExcerptMarker = "User: ";
constexpr std::string_view kDirectThink = " <think> I know this. </think>";
constexpr int kMaxTerms = 12;

void check_config(const ZeroTaskConfig& cfg) {
  if (cfg.min_terms < 2 || cfg.max_terms > kMaxTerms || cfg.min_terms > cfg.max_terms)
    fail("zero task: terms must satisfy 2 <= min_terms <= max_terms <= {}, got {}..{}", kMaxTerms,
         cfg.min_terms, cfg.max_terms);
  auto frac_ok = [](double f) { return f >= 0.0 && f <= 1.0; };
  auto mix_ok = [&](const ZeroMix& m) { return frac_ok(m.worked) && frac_ok(m.sloppy) && frac_ok(m.check); };
  if (!frac_ok(cfg.full_template_frac) || !mix_ok(cfg.template_mix) || !mix_ok(cfg.excerpt_mix) ||
      !frac_ok(cfg.direct_error) || !(cfg.slip >= 0.0 && cfg.slip <= 0.5))
    fail(
        "zero task: fractions must lie in [0, 1] and slip <= 0.5 (template {}: "
        "worked {}, sloppy {}, check {}; excerpts: worked {}, sloppy {}, check {}; slip {}, direct_error {})",
        cfg.full_template_frac, cfg.template_mix.worked, cfg.template_mix.sloppy, cfg.template_mix.check,
        cfg.excerpt_mix.worked, cfg.excerpt_mix.sloppy, cfg.excerpt_mix.check, cfg.slip, cfg.direct_error);
}

const ChatTemplate& r1zero() {
  static const ChatTemplate t = ChatTemplate::load("r1zero");
  return t;
}

int64_t sum_of(std::span<const int64_t> t) {
  int64_t s = 0;
  for (int64_t x : t) s += x;
  return s;
}

}  // namespace

bool zero_is_test(std::span<const int64_t> terms) {
  // The multiset: every reordering (a rewriting with the same sum and the same steps in another
  // order) falls on the same side, so no rewriting of a held-out problem is trained on.
  std::vector<int64_t> t(terms.begin(), terms.end());
  std::sort(t.begin(), t.end());
  uint64_t h = hash_u64(kSplitSalt, t.size());
  for (int64_t x : t) h = hash_u64(h, static_cast<uint64_t>(x));
  return h % kZeroTestModulus == 0;
}

ZeroProblem zero_problem(std::vector<int64_t> terms) {
  if (terms.size() < 2) fail("zero task: a problem needs at least two terms, got {}", terms.size());
  ZeroProblem p;
  p.question = "Compute ";
  for (size_t i = 0; i < terms.size(); i++) {
    if (terms[i] < 0) fail("zero task: terms must be non-negative, got {}", terms[i]);
    if (i) p.question += '+';
    p.question += std::to_string(terms[i]);
  }
  p.answer = std::to_string(sum_of(terms));
  p.terms = std::move(terms);
  return p;
}

std::vector<ZeroProblem> zero_problems(const ZeroTaskConfig& cfg, bool test, int64_t n) {
  check_config(cfg);
  const int levels = cfg.max_terms - cfg.min_terms + 1;
  // Each level of difficulty gets every levels-th problem; its split holds about share x 9^k
  // ordered problems. Rejection sampling within a level, with a cap on the draws.
  const double share = test ? 1.0 / kZeroTestModulus : 1.0 - 1.0 / kZeroTestModulus;
  for (int k = cfg.min_terms; k <= cfg.max_terms; k++) {
    const int64_t want = n / levels + (k - cfg.min_terms < n % levels ? 1 : 0);
    const double size = share * std::pow(9.0, k);
    if (static_cast<double>(want) > 0.8 * size)
      fail("zero task: {} distinct {} problems of {} terms asked for; the split holds about {}", want,
           test ? "test" : "train", k, static_cast<int64_t>(size));
  }
  std::vector<ZeroProblem> out;
  std::set<std::vector<int64_t>> seen;
  const uint64_t stream = test ? 0x7e57 : 0x7a1;
  uint64_t draw = 0;
  for (int64_t i = 0; i < n; i++) {
    const int k = cfg.min_terms + static_cast<int>(i % levels);
    for (uint64_t tries = 0;; tries++, draw++) {
      if (tries == 1'000'000)
        fail("zero task: found only {} of {} distinct {} problems", out.size(), n, test ? "test" : "train");
      std::vector<int64_t> t(static_cast<size_t>(k));
      for (int j = 0; j < k; j++)
        t[static_cast<size_t>(j)] = 1 + static_cast<int64_t>(hash_u64(cfg.seed, stream, draw, j) % 9);
      if (zero_is_test(t) != test || !seen.insert(t).second) continue;
      out.push_back(zero_problem(std::move(t)));
      break;
    }
  }
  return out;
}

std::string zero_prompt(const ZeroProblem& p) {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  msgs.push_back({{"role", "user"}, {"content", p.question}});
  return r1zero().render(msgs);
}

std::string zero_worked_completion(const ZeroProblem& p, std::span<const int> slips, bool check) {
  // The terms restated ("4+9+7+8: "), then added left to right: "4+9=13, 13+7=20, ...", step i's
  // result off by slips[i]; a checked step is followed by " check 13+7=20" (never off) and, when
  // the two differ, " wait", and the sum goes on from the checked value.
  std::string out = " <think> " + p.question.substr(std::string_view("Compute ").size()) + ": ";
  int64_t acc = p.terms[0];
  for (size_t i = 1; i < p.terms.size(); i++) {
    const std::string step = std::to_string(acc) + "+" + std::to_string(p.terms[i]) + "=";
    const int64_t right = acc + p.terms[i], s = right + (i - 1 < slips.size() ? slips[i - 1] : 0);
    if (i > 1) out += ", ";
    out += step + std::to_string(s);
    acc = s;
    if (check) {
      out += " check " + step + std::to_string(right);
      if (s != right) out += " wait";
      acc = right;
    }
  }
  return out + " </think> <answer> " + std::to_string(acc) + " </answer>";
}

std::string zero_direct_completion(const ZeroProblem& p, int answer_error) {
  return std::string(kDirectThink) + " <answer> " + std::to_string(sum_of(p.terms) + answer_error) +
         " </answer>";
}

std::string zero_untagged(std::string_view completion) {
  constexpr std::string_view kOpen = " <answer> ", kClose = " </answer>";
  const size_t at = completion.rfind(kOpen), end = completion.rfind(kClose);
  R1_CHECK(at != std::string_view::npos && end != std::string_view::npos && end > at);
  return std::string(completion.substr(0, at)) + " " +
         std::string(completion.substr(at + kOpen.size(), end - at - kOpen.size()));
}

std::string_view zero_excerpt_marker() {
  return kExcerptMarker;
}

std::vector<ZeroDoc> zero_corpus(const ZeroTaskConfig& cfg, int64_t docs) {
  check_config(cfg);
  if (docs < 1) fail("zero task: the corpus needs at least one document, got {}", docs);
  // Per level of difficulty, a pool of distinct training problems drawn from with repetition (as
  // web text repeats), at most 70% of what the level's split holds.
  const int levels = cfg.max_terms - cfg.min_terms + 1;
  std::vector<std::vector<ZeroProblem>> pools;
  for (int k = cfg.min_terms; k <= cfg.max_terms; k++) {
    ZeroTaskConfig one = cfg;
    one.min_terms = one.max_terms = k;
    const auto cap = static_cast<int64_t>(0.7 * (1.0 - 1.0 / kZeroTestModulus) * std::pow(9.0, k));
    pools.push_back(zero_problems(one, false, std::min<int64_t>((docs + levels - 1) / levels, cap)));
  }
  std::vector<ZeroDoc> out;
  out.reserve(docs);
  for (int64_t d = 0; d < docs; d++) {
    const auto h = [&](uint64_t what) { return hash_u64(cfg.seed, 0xd0c, static_cast<uint64_t>(d), what); };
    ZeroDoc doc;
    const auto& pool = pools[h(4) % pools.size()];
    doc.problem = pool[h(0) % pool.size()];
    doc.full_template = uniform01(h(2)) < cfg.full_template_frac;
    const ZeroMix& mix = doc.full_template ? cfg.template_mix : cfg.excerpt_mix;
    const double u = uniform01(h(1));
    doc.kind = u < mix.worked ? ZeroDocKind::kWorked : ZeroDocKind::kDirect;
    doc.sloppy = uniform01(h(8)) < mix.sloppy;
    std::string prompt = zero_prompt(doc.problem);
    if (!doc.full_template) {
      const size_t at = prompt.rfind(kExcerptMarker);
      R1_CHECK(at != std::string::npos);
      prompt.erase(0, at);
    }
    // The level's position in 1..levels scales the shares of checks and of wrong direct answers.
    const double hardness =
        static_cast<double>(doc.problem.terms.size() - static_cast<size_t>(cfg.min_terms) + 1) / levels;
    std::string completion;
    if (doc.kind == ZeroDocKind::kWorked) {
      std::vector<int> slips(doc.problem.terms.size() - 1, 0);
      for (size_t i = 0; i < slips.size(); i++)
        if (uniform01(h(16 + 2 * i)) < cfg.slip) {
          slips[i] = (h(17 + 2 * i) & 1) ? 1 : -1;
          doc.slipped = true;
        }
      // Two slips that cancel out leave a right total: still a slipped pass.
      doc.checked = uniform01(h(3)) < mix.check * hardness;
      completion = zero_worked_completion(doc.problem, slips, doc.checked);
    } else {
      if (uniform01(h(5)) < cfg.direct_error * hardness)
        doc.answer_error = static_cast<int>(1 + h(6) % 3) * ((h(7) & 1) ? 1 : -1);
      completion = zero_direct_completion(doc.problem, doc.answer_error);
    }
    doc.text = prompt + (doc.sloppy ? zero_untagged(completion) : completion);
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
# docs/zero_task_notes.md). The base shipped in models/zero-base was made by this recipe:
#   r1 pretrain models/zero-base/recipe.toml   (writes runs/zero-base/model)
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
seq_len = 768
builtin_docs = 60000

[train]
steps = 1800            # ~11M tokens: ~11 minutes at ~17k tokens/s on 2 cores
batch_tokens = 6144
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
dtype = "bf16"          # the exported model (1.5 MB)
save_every = 200
overwrite = true
)";
}

}  // namespace r1
