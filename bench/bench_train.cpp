// Training throughput of a Llama-shaped model (~28M parameters, sequence length 256) as a ratio
// of this machine's fp32 GEMM peak and of the same training step in PyTorch, measured in one run.
//
//   build/bench/bench_train [--layers 8 --hidden 512 --ffn 1408 --heads 8 --kv-heads 8 --vocab 4096
//                            --seq-len 256 --batch 8 --steps 5 --warmup 2] [--no-torch]
//                           [--bf16] [--recompute]
//
// --bf16 also runs the step with train.compute = "bf16" (ComputeConfig) in the same run and
// reports its speed-up over fp32; --recompute runs both with activation recomputation.
//
// Model FLOPs per step use the PaLM formula (as bench/torch_train_step.py does):
//   6 * N * tokens + 12 * L * B * T^2 * D,  N = parameters in matrix products (embedding lookup excluded).
#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/rng.h"
#include "kernels/blas.h"
#include "model/model.h"
#include "train/loss.h"
#include "train/optim.h"

namespace {

using r1::bench::gemm_peak_gflops;
using r1::bench::now;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int layers = 8, hidden = 512, ffn = 1408, heads = 8, kv_heads = 8, vocab = 4096, seq = 256, batch = 8,
      steps = 5, warmup = 2;
  bool torch = true, bf16 = false, recompute = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--layers")
      layers = next();
    else if (a == "--hidden")
      hidden = next();
    else if (a == "--ffn")
      ffn = next();
    else if (a == "--heads")
      heads = next();
    else if (a == "--kv-heads")
      kv_heads = next();
    else if (a == "--vocab")
      vocab = next();
    else if (a == "--seq-len")
      seq = next();
    else if (a == "--batch")
      batch = next();
    else if (a == "--steps")
      steps = next();
    else if (a == "--warmup")
      warmup = next();
    else if (a == "--no-torch")
      torch = false;
    else if (a == "--bf16")
      bf16 = true;
    else if (a == "--recompute")
      recompute = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const int threads = omp_get_max_threads();
  const double peak = gemm_peak_gflops(2048, 5);
  std::fprintf(stderr, "fp32 GEMM peak (2048^3 sgemm, %d threads, OpenBLAS %s kernels): %.1f GFLOP/s\n",
               threads, r1::blas_core_name(), peak);

  r1::ModelConfig c;
  c.vocab_size = vocab, c.hidden_size = hidden, c.intermediate_size = ffn, c.num_layers = layers;
  c.num_heads = heads, c.num_kv_heads = kv_heads, c.head_dim = hidden / heads, c.rms_norm_eps = 1e-5f;
  c.tie_word_embeddings = false;
  r1::Batch b;
  for (int s = 0; s < batch; s++) {
    std::vector<int32_t> tok(seq);
    for (int t = 0; t < seq; t++) tok[t] = int32_t(r1::hash_u64(3, s, t) % vocab);
    b.append_lm(tok);
  }
  int64_t n_targets = 0;
  for (int32_t t : b.targets) n_targets += t >= 0;
  const float w = 1.f / float(n_targets);
  const auto loss_fn = r1::weighted_cross_entropy(b, w);
  // One configuration's median step time (forward, backward, clipping, AdamW) from fresh weights.
  struct Run {
    double step_s, loss;
    size_t act_bytes;
  };
  auto run = [&](r1::DType compute) {
    r1::Model model(c);
    model.init_random(1, 0.02f);
    model.set_compute({compute, recompute});
    r1::AdamW opt({0.9, 0.95, 1e-8, 0.1}, model.num_params());
    std::vector<double> times;
    double loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
      double t0 = now();
      model.zero_grads();
      loss = model.forward_backward(b, loss_fn);
      r1::clip_grad_norm(model.grads(), model.num_params(), 1.0);
      opt.step(model, 1e-4);
      if (s >= warmup) times.push_back(now() - t0);
    }
    return Run{median(times), loss, model.activation_bytes()};
  };
  const Run f32 = run(r1::DType::F32);
  const double step_s = f32.step_s, loss = f32.loss;
  const int64_t tokens = int64_t(batch) * seq;
  // Parameters in matrix products: everything except the embedding table (lm_head included).
  int64_t n_matmul = 0;
  for (const auto& p : r1::param_layout(c))
    if (p.name != "model.embed_tokens.weight") n_matmul += int64_t(p.numel);
  const double flops = 6.0 * n_matmul * tokens + 12.0 * layers * batch * double(seq) * seq * hidden;
  const double gflops = flops / step_s / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  nlohmann::json out = {{"params", n_matmul + int64_t(vocab) * hidden},
                        {"blas_core", r1::blas_core_name()},
                        {"tokens_per_step", tokens},
                        {"threads", threads},
                        {"gemm_peak_gflops", peak},
                        {"r1_step_seconds", step_s},
                        {"r1_tokens_per_s", tokens / step_s},
                        {"r1_gflops", gflops},
                        {"r1_fraction_of_gemm_peak", gflops / peak},
                        {"r1_peak_rss_mb", ru.ru_maxrss / 1024.0},
                        {"r1_activation_mb", f32.act_bytes / 1048576.0},
                        {"recompute", recompute},
                        {"loss", loss}};
  std::fprintf(stderr, "r1.cpp: %.3f s/step, %.0f tokens/s, %.1f GFLOP/s = %.0f%% of GEMM peak%s\n", step_s,
               tokens / step_s, gflops, 100 * gflops / peak, recompute ? " (with recomputation)" : "");
  if (bf16) {
    const Run b16 = run(r1::DType::BF16);
    out["bf16_step_seconds"] = b16.step_s;
    out["bf16_tokens_per_s"] = tokens / b16.step_s;
    out["bf16_speedup_vs_f32"] = step_s / b16.step_s;
    out["bf16_loss"] = b16.loss;
    std::fprintf(stderr, "r1.cpp bf16: %.3f s/step, %.0f tokens/s = %.2fx fp32 (bf16 GEMM kernels: %s)\n",
                 b16.step_s, tokens / b16.step_s, step_s / b16.step_s,
                 r1::bf16_kernels_available() ? "AVX-512 BF16" : "scalar fallback");
  }
  if (torch) {
    const std::string cmd = fmt::format(
        "/usr/bin/python3 {}/bench/torch_train_step.py --hidden {} --layers {} --heads {} --kv-heads {} "
        "--ffn {} "
        "--vocab {} --seq-len {} --batch {} --steps {} --warmup {} --threads {}",
        R1_SOURCE_DIR, hidden, layers, heads, kv_heads, ffn, vocab, seq, batch, steps, warmup, threads);
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) text += buf;
    if (p && pclose(p) == 0 && !text.empty()) {
      auto tj = nlohmann::json::parse(text.substr(text.rfind('{')));
      const double torch_s = tj["step_seconds"].get<double>();
      out["torch_step_seconds"] = torch_s;
      out["torch_tokens_per_s"] = tokens / torch_s;
      out["torch_peak_rss_mb"] = tj["peak_rss_mb"];
      out["speedup_vs_torch"] = torch_s / step_s;
      std::fprintf(stderr, "PyTorch: %.3f s/step, %.0f tokens/s; r1.cpp is %.2fx faster\n", torch_s,
                   tokens / torch_s, torch_s / step_s);
    } else {
      std::fprintf(stderr, "PyTorch baseline unavailable (%s)\n", cmd.c_str());
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
