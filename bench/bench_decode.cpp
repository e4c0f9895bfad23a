// Generation throughput through the paged KV cache (model/infer.h): prefill tokens/s for
// 128-token prompts and decode tokens/s at batch 1, 8, 32 and 128 for random Llama- and
// Qwen2-shaped models and stories260K (when its GGUF is found), each in fp32 and bf16 compute, as a fraction
// of the matching GEMM peak measured in the same run (fp32: OpenBLAS sgemm 2048^3; bf16: r1's
// linear_forward_bf16 2048^3, kernels/blas.h); KV bytes per token.
//
//   build/bench/bench_decode [--model 25m|120m|qwen2-25m|qwen2-120m|stories|all] [--dtype f32|bf16|all]
//   [--batches 1,8,32,128]
//                            [--prompt 128] [--steps 64] [--stories PATH.gguf] [--profile]
//
// --profile: where a decode step goes (CachedForward::profile(): wall time per phase).
//
// Model FLOPs: 2 * N per token for the matrix products (N = parameters in them, the LM head only
// for rows whose logits are computed) plus attention, 4 * q_dim * (keys attended) per token per layer.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/rng.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"
#include "model/infer.h"

namespace {

using r1::bench::gemm_peak_gflops;
using r1::bench::now;

// Best-of-runs rate of r1's bf16 product on square matrices (bf16 inputs, fp32 sums and output),
// conversion of A included.
double bf16_peak_gflops(int n, int reps) {
  std::vector<float> a(size_t(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); i++) a[i] = float(i % 7) * 0.1f, b[i] = float(i % 5) * 0.1f;
  std::vector<uint16_t> ab(size_t(n) * r1::bf16_ld(n)), bp(r1::bf16_packed_size(n, n));
  r1::pack_bf16_weights(b.data(), n, n, bp.data());
  double best = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    r1::f32_to_bf16_rows(a.data(), n, n, ab.data());
    r1::linear_forward_bf16(c.data(), ab.data(), bp.data(), n, n, n);
    best = std::max(best, 2.0 * n * n * n / (now() - t0) / 1e9);
  }
  return best;
}

struct Shape {
  const char* name;
  r1::Arch arch;
  int hidden, layers, heads, kv_heads, ffn;
};

// Llama-shaped: as many kv heads as query heads, untied. Qwen2-shaped: GQA 4:1 or 6:1, q/k/v
// biases, tied embeddings (vocabulary 32000 for both, so the LM heads cost the same).
r1::Model random_model(const Shape& sh) {
  r1::ModelConfig c;
  c.arch = sh.arch;
  c.vocab_size = 32000, c.hidden_size = sh.hidden, c.intermediate_size = sh.ffn, c.num_layers = sh.layers;
  c.num_heads = sh.heads, c.num_kv_heads = sh.kv_heads, c.head_dim = sh.hidden / sh.heads,
  c.rms_norm_eps = 1e-5f;
  if (sh.arch == r1::Arch::Qwen2) c.attention_bias = true, c.tie_word_embeddings = true, c.rope_theta = 1e6;
  r1::Model model(c);
  model.init_random(1, 0.02f);
  return model;
}

void run_model(const char* name, r1::Model& model, r1::DType dtype, const std::vector<int>& batches,
               int prompt, int steps, double peak, bool profile) {
  const r1::ModelConfig& c = model.config();
  const int64_t V = c.vocab_size, D = c.hidden_size, L = c.num_layers, qd = c.q_dim();
  // Parameters in matrix products: everything except the embedding table; the LM head apart.
  int64_t n_body = 0;
  for (const auto& p : model.param_specs())
    if (p.name != "model.embed_tokens.weight" && p.name != "lm_head.weight") n_body += int64_t(p.numel);
  const double head_flops = 2.0 * V * D;
  const double t_init = now();
  r1::CachedForward fwd(model, dtype);
  const double init_s = now() - t_init;
  const bool bf16 = dtype == r1::DType::BF16;
  if (bf16)
    std::printf("%-7s bf16 weight copies: %.1f MiB, made in %.0f ms\n", name,
                fwd.weight_copy_bytes() / 1048576.0, init_s * 1e3);
  for (int b : batches) {
    const size_t per_token = r1::KvCache(c, 1 << 30, 16, dtype).bytes_per_token();
    r1::KvCache cache(c, size_t(b) * (prompt + steps + 16) * per_token, 16, dtype);
    // The steady state of a reused pool (the engine keeps its pool across generate() calls): the
    // kernel's zeroing of fresh pages, about 1 ms per decode step here, is not counted.
    cache.prefault();
    std::vector<r1::KvCache::SeqId> seqs(b);
    std::vector<std::vector<int32_t>> prompts(b);
    for (int s = 0; s < b; s++) {
      seqs[s] = cache.create();
      prompts[s].resize(prompt);
      for (int t = 0; t < prompt; t++) prompts[s][t] = int32_t(r1::hash_u64(5, s, t) % V);
    }
    // Prefill in packed batches of up to 16 prompts (2048 tokens).
    std::vector<float> logits(size_t(b) * V);
    double prefill_s = 0, prefill_flops = 0;
    for (int s0 = 0; s0 < b; s0 += 16) {
      std::vector<r1::SeqTokens> batch;
      for (int s = s0; s < std::min(b, s0 + 16); s++) batch.push_back({seqs[s], prompts[s]});
      const double t0 = now();
      if (!fwd.run(cache, batch, logits.data())) std::abort();
      prefill_s += now() - t0;
      const double T = double(batch.size()) * prompt;
      prefill_flops += 2.0 * n_body * T + head_flops * batch.size() +
                       2.0 * L * qd * double(batch.size()) * prompt * (prompt + 1);
    }
    // Decode: every step one token per sequence, all sequences in one batch.
    fwd.set_profiling(profile);
    fwd.reset_profile();
    double decode_s = 0, decode_flops = 0;
    std::vector<int32_t> next(b);
    for (int step = 0; step < steps; step++) {
      std::vector<r1::SeqTokens> batch;
      for (int s = 0; s < b; s++) {
        next[s] = int32_t(r1::hash_u64(6, s, step) % V);
        batch.push_back({seqs[s], std::span<const int32_t>(&next[s], 1)});
      }
      const double t0 = now();
      if (!fwd.run(cache, batch, logits.data())) std::abort();
      decode_s += now() - t0;
      const double ctx = prompt + step + 1;
      decode_flops += b * (2.0 * n_body + head_flops + 4.0 * L * qd * ctx);
    }
    const double pf = prefill_flops / prefill_s / 1e9, df = decode_flops / decode_s / 1e9;
    std::printf(
        "%-7s %-4s params %.1fM  batch %3d  prefill %8.0f tok/s %6.1f GFLOP/s (%4.1f%% of peak)  decode "
        "%7.0f "
        "tok/s "
        "%6.1f GFLOP/s (%4.1f%% of peak)  KV %zu B/token, %.0f MiB used\n",
        name, bf16 ? "bf16" : "f32", model.num_params() / 1e6, b, double(b) * prompt / prefill_s, pf,
        100 * pf / peak, double(b) * steps / decode_s, df, 100 * df / peak, per_token,
        double(cache.num_blocks() - cache.free_blocks()) * cache.bytes_per_block() / 1048576.0);
    if (profile) {
      const r1::ForwardProfile& p = fwd.profile();
      auto pct = [&](double x) { return 100.0 * x / std::max(1e-12, p.total); };
      std::printf(
          "        decode step %.2f ms: norms %.0f%%  qkv %.0f%%  q/k/rope/cache %.0f%%  attention %.0f%%  "
          "o_proj %.0f%%  gate_up %.0f%%  swiglu %.0f%%  down %.0f%%  head %.0f%%  rest %.0f%%\n",
          1e3 * p.total / std::max<int64_t>(1, p.calls), pct(p.norms), pct(p.qkv), pct(p.prepare),
          pct(p.attention), pct(p.o_proj), pct(p.gate_up), pct(p.swiglu), pct(p.down), pct(p.head),
          pct(p.total - p.norms - p.qkv - p.prepare - p.attention - p.o_proj - p.gate_up - p.swiglu - p.down -
              p.head));
    }
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "all", dtypes = "all", stories = "../shared/models/stories260K/stories260K.gguf";
  std::vector<int> batches = {1, 8, 32, 128};
  int prompt = 128, steps = 64;
  bool profile = false;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--model") {
      which = v, i++;
    } else if (a == "--dtype") {
      dtypes = v, i++;
    } else if (a == "--stories") {
      stories = v, i++;
    } else if (a == "--batches") {
      batches.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) batches.push_back(std::atoi(x.c_str()));
      i++;
    } else if (a == "--prompt") {
      prompt = std::atoi(v), i++;
    } else if (a == "--profile") {
      profile = true;
    } else if (a == "--steps") {
      steps = std::atoi(v), i++;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const double peak = gemm_peak_gflops(2048, 5);
  std::printf("fp32 GEMM peak (2048^3 sgemm, %d threads, OpenBLAS %s kernels): %.1f GFLOP/s\n",
              omp_get_max_threads(), r1::blas_core_name(), peak);
  double peak_bf16 = 0;
  if (dtypes != "f32") {
    peak_bf16 = bf16_peak_gflops(2048, 5);
    std::printf("bf16 GEMM peak (2048^3 linear_forward_bf16, %s): %.1f GFLOP/s (%.2fx fp32)\n",
                r1::bf16_kernels_available() ? "AVX-512 BF16" : "scalar fallback", peak_bf16,
                peak_bf16 / peak);
  }
  std::vector<std::pair<r1::DType, double>> runs;
  if (dtypes != "bf16") runs.push_back({r1::DType::F32, peak});
  if (dtypes != "f32") runs.push_back({r1::DType::BF16, peak_bf16});
  if ((which == "all" || which == "stories") && std::filesystem::exists(stories)) {
    r1::Model model = r1::load_model(stories);
    for (auto [dt, pk] : runs) run_model("stories", model, dt, batches, prompt, steps, pk, profile);
  }
  const Shape shapes[] = {{"25m", r1::Arch::Llama, 512, 8, 8, 8, 1408},
                          {"120m", r1::Arch::Llama, 768, 12, 12, 12, 2048},
                          {"qwen2-25m", r1::Arch::Qwen2, 512, 8, 8, 2, 1536},
                          {"qwen2-120m", r1::Arch::Qwen2, 768, 12, 12, 2, 2560}};
  for (const Shape& sh : shapes)
    if (which == "all" || which == sh.name) {
      r1::Model model = random_model(sh);
      for (auto [dt, pk] : runs) run_model(sh.name, model, dt, batches, prompt, steps, pk, profile);
    }
  return 0;
}
