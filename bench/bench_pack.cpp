// The bf16 weight copy of generation (CachedForward with DType::BF16, model/infer.h): packing a
// random Qwen2.5-0.5B-shaped model's matrices (hidden 896, 24 layers, 14 q / 2 kv heads of 64,
// FFN 4864, vocabulary 151936, tied embeddings, q/k/v biases: 494M parameters, all of them in the
// packed matrices, the LM head being the embedding) with the element-by-element reference routine
// (what r1 ran before) and as CachedForward does now, in the same run; the copies compared bit
// for bit (--reference-reps 0 skips the reference and the comparison).
// Then the engine: three generate() calls of one short prompt in bf16, the second with unchanged
// weights (no repack), the third after mark_params_changed() (one repack).
//
//   build/bench/bench_pack [--reps 3] [--reference-reps 1] [--layers 24] [--new-tokens 8]
//
// "fresh" timings include allocating the copy (and the page faults of its first writing), as a
// new CachedForward does (before: each generate() call); "repack" timings write into an existing
// one (after: what an engine pays once the optimizer changed the weights).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/blas.h"
#include "model/infer.h"
#include "rollout/engine.h"

namespace {

using r1::bench::now;

struct Matrix {
  const float* w;
  int64_t out, in;
  size_t at;  // offset in the packed copy
};

std::vector<Matrix> matrices(r1::Model& m, size_t* total) {
  const r1::ModelConfig& c = m.config();
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  const r1::Weights W = m.weights();
  std::vector<Matrix> ms;
  size_t at = 0;
  auto add = [&](const float* w, int64_t out, int64_t in) {
    ms.push_back({w, out, in, at});
    at += size_t(r1::bf16_packed_size(out, in));
  };
  for (const r1::LayerWeights& l : W.layers) {
    add(l.wqkv, c.qkv_dim(), D);
    add(l.wo, D, c.q_dim());
    add(l.wgu, 2 * F, D);
    add(l.wdown, D, F);
  }
  add(W.lm_head, c.vocab_size, D);
  *total = at;
  return ms;
}

// The routine r1 ran before: a fresh copy (value-initialised, as CachedForward's std::vector
// was), then one element-by-element pack per matrix. Seconds.
double pack_reference(const std::vector<Matrix>& ms, size_t total, std::vector<uint16_t>& dst, bool fresh) {
  const double t0 = now();
  if (fresh) {
    std::vector<uint16_t>().swap(dst);
    dst.resize(total);
  }
  for (const Matrix& m : ms) r1::pack_bf16_weights_reference(m.w, m.out, m.in, dst.data() + m.at);
  return now() - t0;
}

// What CachedForward::sync_weights does now: every matrix in one call into a 64-byte aligned copy.
double pack_now(const std::vector<Matrix>& ms, uint16_t* dst) {
  std::vector<r1::Bf16PackJob> jobs;
  for (const Matrix& m : ms) jobs.push_back({m.w, m.out, m.in, dst + m.at});
  const double t0 = now();
  r1::pack_bf16_weights(jobs);
  return now() - t0;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 3, reference_reps = 1, layers = 24, new_tokens = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (a == "--reps")
      reps = v;
    else if (a == "--reference-reps")
      reference_reps = v;
    else if (a == "--layers")
      layers = v;
    else if (a == "--new-tokens")
      new_tokens = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  r1::ModelConfig c;
  c.arch = r1::Arch::Qwen2;
  c.vocab_size = 151936, c.hidden_size = 896, c.intermediate_size = 4864, c.num_layers = layers;
  c.num_heads = 14, c.num_kv_heads = 2, c.head_dim = 64, c.rms_norm_eps = 1e-6f, c.rope_theta = 1e6;
  c.attention_bias = true, c.tie_word_embeddings = true, c.max_position_embeddings = 32768;
  double t0 = now();
  r1::Model model(c);
  model.init_random(1, 0.02f);
  size_t total = 0;
  const std::vector<Matrix> ms = matrices(model, &total);
  size_t packed_params = 0;
  for (const Matrix& m : ms) packed_params += size_t(m.out * m.in);
  std::printf(
      "model: Qwen2.5-0.5B-shaped, %d layers, %.1fM parameters (%.1f MB fp32), %.1fM in packed matrices "
      "-> bf16 copy %.1f MB; %d threads; made in %.1f s\n",
      layers, model.num_params() / 1e6, model.num_params() * 4 / 1e6, packed_params / 1e6, total * 2 / 1e6,
      omp_get_max_threads(), now() - t0);
  std::printf("AVX-512 BF16 kernels: %s\n", r1::bf16_kernels_available() ? "yes" : "no");

  std::vector<uint16_t> ref;
  double ref_fresh = 1e30, ref_repack = 1e30;
  for (int r = 0; r < reference_reps; r++) {
    ref_fresh = std::min(ref_fresh, pack_reference(ms, total, ref, true));
    ref_repack = std::min(ref_repack, pack_reference(ms, total, ref, false));
  }
  // The engine's way: a CachedForward made (allocating its copy, pages faulted in by the pack)
  // and sync_weights() on it; then the batch call into an aligned buffer, compared with ref.
  double construct = 1e30, sync = 1e30, batch = 1e30;
  for (int r = 0; r < reps; r++) {
    t0 = now();
    r1::CachedForward cf(model, r1::DType::BF16);
    construct = std::min(construct, now() - t0);
    t0 = now();
    cf.sync_weights();
    sync = std::min(sync, now() - t0);
  }
  uint16_t* fast = static_cast<uint16_t*>(std::aligned_alloc(64, (total * 2 + 63) / 64 * 64));
  for (int r = 0; r < reps; r++) batch = std::min(batch, pack_now(ms, fast));
  const bool same = ref.size() == total && std::memcmp(ref.data(), fast, total * 2) == 0;
  std::free(fast);
  std::vector<uint16_t>().swap(ref);
  std::printf("\n%-58s %9s %9s\n", "whole model, best of runs", "fresh", "repack");
  std::printf("%-58s %8.3fs %8.3fs\n", "before: reference routine, one call per matrix", ref_fresh,
              ref_repack);
  std::printf("%-58s %8.3fs %8.3fs\n", "after: CachedForward(bf16) construction / sync_weights()", construct,
              sync);
  std::printf("%-58s %8.1fx %8.1fx\n", "speed-up", ref_fresh / construct, ref_repack / sync);
  std::printf(
      "after, pack_bf16_weights(jobs) alone: %.3f s = %.2f GB/s read (fp32) + %.2f GB/s written (bf16); "
      "copy identical to the reference's: %s\n",
      batch, packed_params * 4 / batch / 1e9, total * 2 / batch / 1e9, same ? "yes" : "NO");

  r1::GenerationConfig g;
  g.compute = r1::DType::BF16;
  g.max_new_tokens = new_tokens;
  g.kv_budget_bytes = size_t{64} << 20;
  g.sampling.temperature = 0;
  r1::Engine engine(model, nullptr, g);
  std::vector<std::vector<int32_t>> prompts(1);
  for (int i = 0; i < 16; i++) prompts[0].push_back(1000 + 37 * i);
  std::printf("\nengine, bf16, one 16-token prompt, %d new tokens:\n", new_tokens);
  std::printf("%-36s %9s %9s %9s %6s\n", "call", "total", "model", "packing", "packs");
  r1::GenerationStats last;
  for (int call = 0; call < 3; call++) {
    if (call == 2) model.mark_params_changed();
    engine.generate_all(prompts);
    const r1::GenerationStats& s = engine.stats();
    std::printf("%-36s %8.3fs %8.3fs %8.3fs %6lld\n",
                call == 0   ? "1: first (makes the copy)"
                : call == 1 ? "2: same weights"
                            : "3: after mark_params_changed()",
                s.seconds - last.seconds, s.forward_seconds - last.forward_seconds,
                s.pack_seconds - last.pack_seconds, (long long)(s.weight_packs - last.weight_packs));
    last = s;
  }
  return same || reference_reps == 0 ? 0 : 1;
}
