// The model-size and memory checks (model/memory.h): parameter counts that match the Model's,
// arithmetic that saturates instead of wrapping, and, through the r1 binary, absurd sizes
// (100000 layers in a config.json, a GGUF or a recipe; a 10 TB KV budget) refused with one line
// naming the field, before anything large is allocated: the process's peak memory stays small.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "io/file.h"
#include "io/json.h"
#include "model/checkpoint.h"
#include "model/infer.h"
#include "model/kv_cache.h"
#include "model/memory.h"
#include "model/model.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using r1::Arch;
using r1::ConfigKeys;
using r1::Model;
using r1::ModelConfig;
using r1::testing::describe;
using r1::testing::expect_error;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;
using r1::testing::RunResult;
using r1::testing::scratch_dir;
using r1::testing::tiny_config;

constexpr uint64_t kMax = UINT64_MAX;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// The peak the refusals must stay under: 200 MB. Under AddressSanitizer the runtime alone (its
// shadow memory and allocator) takes far more, so the bound there is 1 GiB, still well below
// what any of these models would allocate (4 GiB and up).
constexpr long kMaxRssKb = kAsan ? 1024 * 1024 : 200'000'000 / 1024;

uint64_t spec_sum(const Model& m) {
  uint64_t n = 0;
  for (const auto& s : m.param_specs()) n += s.numel;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Parameter counts.

TEST(ModelMemory, ParamCountMatchesTheModel) {
  std::vector<ModelConfig> configs;
  for (Arch arch : {Arch::Llama, Arch::Qwen2, Arch::Qwen3}) {
    for (bool tied : {false, true}) {
      ModelConfig c = tiny_config(arch);  // Qwen2 with q/k/v biases, Qwen3 with q/k norms
      c.tie_word_embeddings = tied;
      configs.push_back(c);
      c.num_layers = 3, c.vocab_size = 1001, c.intermediate_size = 77;  // sizes not multiples of 16
      configs.push_back(c);
    }
  }
  for (const ModelConfig& c : configs) {
    SCOPED_TRACE(c.arch_name() + (c.tie_word_embeddings ? " tied" : " untied") + ", " +
                 std::to_string(c.num_layers) + " layers");
    const Model m(c);
    EXPECT_EQ(r1::model_param_count(c), spec_sum(m));
    EXPECT_EQ(r1::model_arena_floats(c), m.num_params());
    EXPECT_EQ(r1::estimate_model_memory(c).params, m.num_params() * sizeof(float));
    size_t arena = 0;
    EXPECT_EQ(r1::param_layout(c, &arena).size(), m.param_specs().size());
    EXPECT_EQ(arena, m.num_params());
  }
}

TEST(ModelMemory, HugeSizesSaturateInsteadOfWrapping) {
  ModelConfig c = tiny_config(Arch::Llama);
  c.vocab_size = INT_MAX, c.hidden_size = INT_MAX, c.intermediate_size = 0, c.num_heads = 0;
  c.num_kv_heads = 0, c.head_dim = 0, c.num_layers = 0, c.tie_word_embeddings = false;
  // 2 x (2^31 - 1)^2 + (2^31 - 1) ~ 9.2e18 still fits in 64 bits: exact.
  const uint64_t n = uint64_t{INT_MAX};
  EXPECT_EQ(r1::model_param_count(c), 2 * n * n + n);
  // Untied with a per-layer MLP of (2^31 - 1)^2 x 3 elements and 2^31 - 1 layers: far past 2^64.
  c.intermediate_size = INT_MAX, c.num_layers = INT_MAX;
  EXPECT_EQ(r1::model_param_count(c), kMax);
  EXPECT_EQ(r1::model_arena_floats(c), kMax);
  EXPECT_EQ(r1::estimate_model_memory(c).params, kMax);
  const r1::MemoryEstimate t = r1::estimate_training_memory(c, {.batch_tokens = INT64_MAX});
  EXPECT_EQ(t.total(), kMax);
  EXPECT_EQ(t.activations, kMax);
  EXPECT_EQ(r1::format_bytes(kMax), "more than 16 EiB");
  EXPECT_EQ(r1::format_param_count(kMax), "more than 1.8e19");
  // A product just past 2^64 saturates too (a wrap would give a small number).
  c = tiny_config(Arch::Llama);
  c.num_layers = 1 << 30, c.hidden_size = 1 << 20, c.intermediate_size = 1 << 14;
  EXPECT_EQ(r1::model_param_count(c), kMax);
}

TEST(ModelMemory, ValidateNamesTheFieldThatIsTooLarge) {
  // vocab x hidden over the 2^31 - 1 elements one tensor may hold.
  ModelConfig c = tiny_config(Arch::Llama);
  c.keys = ConfigKeys::HfJson;
  c.vocab_size = INT_MAX, c.hidden_size = INT_MAX;
  expect_error([&] { c.validate("cfg.json"); }, {"cfg.json: vocab_size 2147483647 x hidden_size 2147483647"});
  // Every tensor within bounds, but 2^31 - 1 layers: more than any machine's memory.
  c = tiny_config(Arch::Qwen3);
  c.keys = ConfigKeys::HfJson;
  c.num_layers = INT_MAX;
  expect_error([&] { c.validate("cfg.json"); },
               {"cfg.json: a model of", "(num_hidden_layers 2147483647)", "more than this machine's"});
  c.keys = ConfigKeys::Gguf;
  expect_error([&] { c.validate("x.gguf"); },
               {"x.gguf: a model of", "(qwen3.block_count 2147483647)"});  // the arch's key
  c.keys = ConfigKeys::Recipe;
  expect_error([&] { c.validate("recipe.toml"); },
               {"recipe.toml: a model of", "(model.num_layers 2147483647)"});
  // The field that makes the model large is named, whichever it is.
  c = tiny_config(Arch::Llama);
  c.keys = ConfigKeys::HfJson;
  c.intermediate_size = 1 << 24, c.num_layers = 1 << 20;
  EXPECT_NE(r1::describe_model_size(c).find("(num_hidden_layers 1048576)"), std::string::npos);
  c.num_layers = 4, c.hidden_size = 1 << 24, c.intermediate_size = 8;
  EXPECT_NE(r1::describe_model_size(c).find("(hidden_size 16777216)"), std::string::npos);
}

TEST(ModelMemory, ModelConstructorRefusesBeforeAllocating) {
  ModelConfig c = tiny_config(Arch::Llama);
  c.num_layers = 1 << 30, c.hidden_size = 4096, c.intermediate_size = 11008, c.head_dim = 1024;
  expect_error([&] { Model m(c); }, {"model configuration: a model of", "(model.num_layers 1073741824)"});
}

TEST(ModelMemory, KvCacheRefusesAPoolLargerThanMemory) {
  const ModelConfig c = tiny_config(Arch::Llama);
  expect_error([&] { r1::KvCache cache(c, SIZE_MAX); },
               {"kv cache: a budget of", "more than this machine's"});
  // The pool holds whole blocks (at most 2^31 - 1 of them) and a reference count and a free-list
  // entry for each.
  const r1::KvCache small(c, 1 << 20);
  const uint64_t blocks = (1 << 20) / small.bytes_per_block();
  EXPECT_EQ(r1::kv_pool_bytes(c, 1 << 20), blocks * small.bytes_per_block() + blocks * 8);
  EXPECT_EQ(r1::kv_pool_bytes(c, kMax),
            uint64_t{INT32_MAX} * small.bytes_per_block() + uint64_t{INT32_MAX} * 8);
}

// bf16 generation keeps a packed copy of the matrices (the engine holds it across calls): the
// estimate counts exactly what CachedForward allocates, and only for BF16.
TEST(ModelMemory, Bf16GenerationCountsTheWeightCopy) {
  for (const Arch arch : {Arch::Llama, Arch::Qwen2, Arch::Qwen3}) {
    Model m = r1::testing::tiny_model(arch);
    const r1::CachedForward bf16(m, r1::DType::BF16);
    EXPECT_EQ(r1::bf16_weight_copy_bytes(m.config()), bf16.weight_copy_bytes());
    const r1::MemoryEstimate f = r1::estimate_generation_memory(m.config(), 1 << 20, 16, r1::DType::F32);
    const r1::MemoryEstimate b = r1::estimate_generation_memory(m.config(), 1 << 20, 16, r1::DType::BF16);
    EXPECT_EQ(f.weight_copy, 0u);
    EXPECT_EQ(b.weight_copy, bf16.weight_copy_bytes());
    EXPECT_EQ(b.total(), b.params + b.kv_pool + b.weight_copy);
    EXPECT_NE(b.breakdown().find("bf16 weight copy"), std::string::npos);
  }
}

TEST(ModelMemory, MachineMemoryIsPhysicalMemoryAtMost) {
  const uint64_t mem = r1::machine_memory_bytes();
  const uint64_t phys = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE));
  EXPECT_GT(mem, uint64_t{0});
  EXPECT_LE(mem, phys);
}

// The training estimate follows Model::forward_backward's buffers: after one step over T tokens
// the model's activation memory is what the estimate says (it also counts the loss head's target
// ids, which activation_bytes() leaves out).
TEST(ModelMemory, TrainingEstimateMatchesForwardBackward) {
  for (Arch arch : {Arch::Llama, Arch::Qwen2, Arch::Qwen3}) {
    SCOPED_TRACE(tiny_config(arch).arch_name());
    Model m = r1::testing::tiny_model(arch);
    const int T = 40;
    r1::Batch b;  // two sequences, every token with a target (the estimate's worst case)
    const int V = m.config().vocab_size;
    b.append(r1::testing::random_tokens(T / 2, V, 1), r1::testing::random_tokens(T / 2, V, 2));
    b.append(r1::testing::random_tokens(T / 2, V, 3), r1::testing::random_tokens(T / 2, V, 4));
    m.zero_grads();
    m.forward_backward(b, [&](const float*, const float*, float* dlogp, float* dent) {
      for (int t = 0; t < T; t++) dlogp[t] = 1.f / T, dent[t] = 0;
      return 0.0;
    });
    const r1::MemoryEstimate e = r1::estimate_training_memory(m.config(), {.batch_tokens = T});
    const uint64_t target_ids = T * sizeof(int32_t);  // one chunk holds every row
    EXPECT_EQ(e.activations + e.logits, m.activation_bytes() + target_ids);
    {  // with recomputation: one layer's set, the layer inputs and the rerun's output
      Model mr = r1::testing::tiny_model(arch);
      mr.set_compute({r1::DType::F32, true});
      mr.zero_grads();
      mr.forward_backward(b, [&](const float*, const float*, float* dlogp, float* dent) {
        for (int t = 0; t < T; t++) dlogp[t] = 1.f / T, dent[t] = 0;
        return 0.0;
      });
      const r1::MemoryEstimate er =
          r1::estimate_training_memory(mr.config(), {.batch_tokens = T, .recompute = true});
      EXPECT_EQ(er.activations + er.logits, mr.activation_bytes() + target_ids);
      EXPECT_LT(er.activations, e.activations);
    }
    EXPECT_EQ(e.grads, m.num_params() * sizeof(float));
    EXPECT_EQ(e.optimizer, 2 * m.num_params() * sizeof(float));
    EXPECT_EQ(e.kv_pool, 0u);
    EXPECT_EQ(e.reference, 0u);
    const r1::MemoryEstimate g = r1::estimate_training_memory(
        m.config(), {.batch_tokens = T, .kv_budget_bytes = 1 << 20, .reference_model = true});
    EXPECT_EQ(g.kv_pool, r1::kv_pool_bytes(m.config(), 1 << 20));
    EXPECT_EQ(g.reference, e.params);
    EXPECT_EQ(g.total(), e.total() + g.kv_pool + g.reference);
  }
}

// What activation recomputation is for: GRPO on a Qwen2.5-0.5B-shaped model with responses of
// several thousand tokens in this project's 24 GiB. One sample of a 150-token prompt and 8192 new
// tokens (a micro-batch holds at least one sample), with the reference model, a 1 GiB KV pool and
// bf16 rollouts: keeping every layer's activations (about 2.1 MB per token) needs more than
// 24 GiB; recomputing them (about 0.26 MB per token) fits.
TEST(ModelMemory, RecomputationFitsLongResponsesOfA05BModelIn24GiB) {
  ModelConfig c;
  c.arch = Arch::Qwen2;
  c.vocab_size = 151936, c.hidden_size = 896, c.intermediate_size = 4864, c.num_layers = 24;
  c.num_heads = 14, c.num_kv_heads = 2, c.head_dim = 64, c.attention_bias = true,
  c.tie_word_embeddings = true;
  r1::TrainingMemoryPlan plan{.batch_tokens = 150 + 8192,
                              .kv_budget_bytes = uint64_t{1} << 30,
                              .kv_dtype = r1::DType::BF16,
                              .reference_model = true};
  const uint64_t gib24 = uint64_t{24} << 30;
  const r1::MemoryEstimate keep = r1::estimate_training_memory(c, plan);
  plan.recompute = true;
  const r1::MemoryEstimate again = r1::estimate_training_memory(c, plan);
  std::printf("0.5B, 8342 tokens: %s without recomputation, %s with\n",
              r1::format_bytes(keep.total()).c_str(), r1::format_bytes(again.total()).c_str());
  EXPECT_GT(keep.total(), gib24);
  EXPECT_LT(again.total(), gib24);
  // And the budget-sized micro-batch (grpo.micro_batch_tokens = 0) grows accordingly.
  plan.batch_tokens = 0;
  const int64_t with = r1::fit_batch_tokens(c, plan, gib24);
  plan.recompute = false;
  const int64_t without = r1::fit_batch_tokens(c, plan, gib24);
  EXPECT_GT(with, 4 * without) << with << " vs " << without;
}

TEST(ModelMemory, TrainingCheckNamesTheBatchKey) {
  ModelConfig c = tiny_config(Arch::Llama);
  EXPECT_NO_THROW(r1::check_training_memory(c, {.batch_tokens = 4096}, "recipe.toml", "train.batch_tokens"));
  // 2^40 tokens of activations fit nowhere.
  expect_error(
      [&] {
        r1::check_training_memory(c, {.batch_tokens = int64_t{1} << 40}, "recipe.toml", "train.batch_tokens");
      },
      {"recipe.toml: training a model of", "with train.batch_tokens 1099511627776 needs", "activations",
       "more than this machine's"});
}

// ---------------------------------------------------------------------------------------------
// Through the r1 binary.

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// This process's resident memory; a forked child starts with a copy of its anonymous pages,
// which wait4's ru_maxrss then counts.
long self_rss_kb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// The refusal contract plus the memory bound; reports the time it took.
void expect_small_refusal(const RunResult& r, const std::vector<std::string>& needles) {
  EXPECT_TRUE(IsOneLineError(r, needles));
  std::printf("  refused in %.3f s, peak RSS %ld KiB: %s", r.seconds, r.max_rss_kb, r.err.c_str());
  if (self_rss_kb() >= kMaxRssKb) {
    std::printf("  (peak RSS not checked: this test process itself holds %ld KiB)\n", self_rss_kb());
    return;
  }
  EXPECT_LT(r.max_rss_kb, kMaxRssKb) << describe(r);
}

// A tiny Llama (one layer, the byte tokenizer's vocabulary) saved as a Hugging Face directory.
Model tiny_llama() {
  ModelConfig c = tiny_config(Arch::Llama);
  c.num_layers = 1;
  c.vocab_size = r1::make_byte_tokenizer()->vocab_size();
  Model m(c);
  m.init_random(1);
  return m;
}

std::string save_tiny(const std::string& dir) {
  const Model m = tiny_llama();
  r1::save_model(m, dir);
  r1::make_byte_tokenizer()->save(dir);
  return dir;
}

TEST(MemoryCheckCli, ConfigJsonWith100000Layers) {
  const std::string dir = save_tiny(scratch_dir() + "/model");
  const std::string cfg_path = dir + "/config.json";
  nlohmann::json cfg = r1::read_json_file(cfg_path);
  cfg["num_hidden_layers"] = 100000;
  r1::testing::write_file(cfg_path, cfg.dump(2));
  const std::string cfg_before = read_bytes(cfg_path),
                    weights_before = read_bytes(dir + "/model.safetensors");

  const RunResult r = run_r1({"generate", "--model", dir, "--prompt", "x"});
  // The file check names the file holding one layer; on a machine with less than the model's
  // 4 GiB, the memory check refuses first. Either names config.json's field and its value.
  expect_small_refusal(r, {cfg_path + ": ", "num_hidden_layers 100000", "a model of"});
  if (r.err.find("more than this machine's") == std::string::npos) {
    EXPECT_NE(r.err.find("but " + dir + "/model.safetensors holds 1 layer"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_bytes(cfg_path), cfg_before);
  EXPECT_EQ(read_bytes(dir + "/model.safetensors"), weights_before);
}

// A llama GGUF of the tiny model (F32, HF row order: the layer check comes before any tensor is
// read).
std::string write_gguf(const std::string& path, const Model& m, uint32_t block_count) {
  return r1::testing::write_file(path, r1::testing::gguf_model_bytes(m, block_count));
}

TEST(MemoryCheckCli, GgufWith100000Layers) {
  const std::string dir = scratch_dir();
  const Model m = tiny_llama();
  // The writer's file loads and generates as it is...
  const std::string good = write_gguf(dir + "/good.gguf", m, 1);
  const RunResult ok = run_r1({"generate", "--model", good, "--prompt-ids", "1,2", "--max-new-tokens", "2"});
  ASSERT_EQ(ok.exit_code, 0) << describe(ok);
  // ...and with llama.block_count 100000 it is refused.
  const std::string bad = write_gguf(dir + "/bad.gguf", m, 100000);
  const std::string before = read_bytes(bad);
  const RunResult r = run_r1({"generate", "--model", bad, "--prompt-ids", "1,2"});
  expect_small_refusal(r, {bad + ": ", "llama.block_count 100000", "a model of"});
  if (r.err.find("more than this machine's") == std::string::npos) {
    EXPECT_NE(r.err.find("but the file holds 1 layer"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_bytes(bad), before);
}

TEST(MemoryCheckCli, PretrainWith100000Layers) {
  // The built-in recipe's model (hidden 128, 4 layers) with 100000 layers: 18.5G parameters,
  // 69 GiB of fp32 parameters before gradients and optimizer state.
  ModelConfig c;
  c.vocab_size = r1::make_byte_tokenizer()->vocab_size();
  c.hidden_size = 128, c.intermediate_size = 352, c.num_layers = 100000, c.num_heads = 4, c.num_kv_heads = 2;
  c.head_dim = 32, c.tie_word_embeddings = true;
  if (r1::estimate_model_memory(c).total() <= r1::machine_memory_bytes())
    GTEST_SKIP() << "this machine has " << r1::format_bytes(r1::machine_memory_bytes())
                 << " of memory, enough for the model's parameters; the training-run check refuses it";
  const std::string out = scratch_dir() + "/run";
  const RunResult r = run_r1({"pretrain", "--set", "model.num_layers=100000", "--set", "output.dir=" + out});
  expect_small_refusal(
      r, {"model.num_layers 100000", "a model of 18.5G parameters", "more than this machine's"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(MemoryCheckCli, KvBudgetLargerThanMemory) {
  const std::string dir = save_tiny(scratch_dir() + "/model");
  const RunResult r = run_r1({"generate", "--model", dir, "--prompt", "x", "--kv-budget-mb", "10000000"});
  expect_small_refusal(r, {"--kv-budget-mb", "10000000 MiB", "KV cache", "more than this machine's"});
}

}  // namespace
