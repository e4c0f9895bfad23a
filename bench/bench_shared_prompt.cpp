// The GRPO update with each group's prompt computed once (Batch::prefix) against the same update
// with the prompt repeated in every sample, on r1 zero's shapes: its base model (the built-in
// pretraining recipe's Llama, random weights: only the shapes matter), its GRPO batch (B prompts x
// G samples, R1-Zero template prompts of 432 byte tokens) and completions of `--completion` tokens.
// One forward_backward of the whole mini-batch (and one forward, as the reference pass) per
// layout, alternated over --reps rounds; the median of each and their ratio, measured in the same
// run (the machine is shared: a ratio is what survives its noise).
//   build/bench/bench_shared_prompt [--prompts 16] [--group 8] [--prompt-len 432] [--completion 40] [--reps
//   5]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/recipe.h"
#include "core/rng.h"
#include "model/model.h"
#include "train/zero_task.h"

int main(int argc, char** argv) {
  int B = 16, G = 8, P = 432, C = 40, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (a == "--prompts")
      B = v;
    else if (a == "--group")
      G = v;
    else if (a == "--prompt-len")
      P = v;
    else if (a == "--completion")
      C = v;
    else if (a == "--reps")
      reps = v;
    else {
      std::fprintf(stderr,
                   "usage: bench_shared_prompt [--prompts B] [--group G] [--prompt-len P] [--completion C] "
                   "[--reps N]\n");
      return 2;
    }
  }
  const r1::Recipe pr = r1::Recipe::parse(r1::default_zero_pretrain_recipe(), "zero pretrain recipe");
  r1::ModelConfig c;
  c.arch = r1::Arch::Llama;
  c.vocab_size = 259;  // the byte tokenizer
  c.hidden_size = static_cast<int>(pr.get_int("model.hidden_size"));
  c.intermediate_size = static_cast<int>(pr.get_int("model.intermediate_size"));
  c.num_layers = static_cast<int>(pr.get_int("model.num_layers"));
  c.num_heads = static_cast<int>(pr.get_int("model.num_heads"));
  c.num_kv_heads = static_cast<int>(pr.get_int("model.num_kv_heads"));
  c.head_dim = static_cast<int>(pr.get_int("model.head_dim"));
  c.tie_word_embeddings = pr.get_bool("model.tie_word_embeddings");
  c.max_position_embeddings = P + C + 1;
  r1::Model m(c);
  m.init_random(1, 0.02f);

  auto tokens = [&](int n, uint64_t seed) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) t[static_cast<size_t>(i)] = static_cast<int32_t>(r1::hash_u64(seed, i) % 256);
    return t;
  };
  r1::Batch unshared, shared;
  for (int g = 0; g < B; g++) {
    const std::vector<int32_t> prompt = tokens(P, 1000 + g);
    const std::vector<int32_t> head(prompt.begin(), prompt.end() - 1);
    shared.append(head, std::vector<int32_t>(head.size(), -1));
    const int32_t ps = static_cast<int32_t>(shared.num_seqs() - 1);
    for (int i = 0; i < G; i++) {
      const std::vector<int32_t> comp = tokens(C, 7 * g + i);
      std::vector<int32_t> full(prompt), tg(static_cast<size_t>(P + C), -1);
      full.insert(full.end(), comp.begin(), comp.end());
      for (int j = 0; j < C; j++) tg[static_cast<size_t>(P - 1 + j)] = comp[static_cast<size_t>(j)];
      unshared.append(full, tg);
      std::vector<int32_t> cont = {prompt.back()}, ct(static_cast<size_t>(C + 1), -1);
      cont.insert(cont.end(), comp.begin(), comp.end());
      for (int j = 0; j < C; j++) ct[static_cast<size_t>(j)] = comp[static_cast<size_t>(j)];
      shared.append_continuation(ps, cont, ct);
    }
  }
  auto loss = [](const r1::Batch& b) {
    return [&b](const float* lp, const float*, float* dlp, float* dent) {
      double s = 0;
      for (int64_t t = 0; t < b.size(); t++) {
        dlp[t] = b.targets[t] >= 0 ? -1e-3f : 0.f, dent[t] = 0.f;
        s += dlp[t] * lp[t];
      }
      return s;
    };
  };
  std::vector<double> t_fb[2], t_f[2];
  const r1::Batch* layouts[2] = {&unshared, &shared};
  std::vector<float> lp(static_cast<size_t>(unshared.size())), ent(lp.size());
  for (int r = 0; r < reps + 1; r++)  // the first round warms up (allocations, page faults)
    for (int k = 0; k < 2; k++) {
      const r1::Batch& b = *layouts[k];
      m.zero_grads();
      double t0 = r1::bench::now();
      m.forward_backward(b, loss(b));
      const double fb = r1::bench::now() - t0;
      t0 = r1::bench::now();
      m.forward(b, lp.data(), ent.data());
      const double f = r1::bench::now() - t0;
      if (r > 0) t_fb[k].push_back(fb), t_f[k].push_back(f);
    }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("model: r1 zero's base shape, %.2fM parameters; B %d x G %d, prompt %d, completion %d tokens\n",
              m.num_params() / 1e6, B, G, P, C);
  std::printf("tokens per pass: repeated prompt %lld, shared prompt %lld (%.1fx fewer)\n",
              (long long)unshared.size(), (long long)shared.size(),
              double(unshared.size()) / double(shared.size()));
  const char* name[2] = {"repeated prompt", "shared prompt"};
  for (int k = 0; k < 2; k++)
    std::printf("%-16s forward+backward %.3f s, forward %.3f s (median of %d)\n", name[k], median(t_fb[k]),
                median(t_f[k]), reps);
  std::printf("shared / repeated: forward+backward %.2f, forward %.2f (update time cut by %.0f%%)\n",
              median(t_fb[1]) / median(t_fb[0]), median(t_f[1]) / median(t_f[0]),
              100 * (1 - median(t_fb[1]) / median(t_fb[0])));
  return 0;
}
