// AdamW with decoupled weight decay and bias correction (torch.optim.AdamW semantics), clipping
// by global gradient norm, and learning-rate schedules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {

class Model;

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;  // applied to matrices only (ParamSpec::decay)
};

class AdamW {
 public:
  AdamW(const AdamWConfig& cfg, size_t num_params);
  // One update of model.params() from model.grads() with learning rate lr.
  void step(Model& model, double lr);
  int64_t steps_taken() const { return t_; }
  void set_steps_taken(int64_t t) { t_ = t; }
  std::vector<float>& m() { return m_; }
  std::vector<float>& v() { return v_; }

 private:
  AdamWConfig cfg_;
  std::vector<float> m_, v_;  // first and second moments, same layout as the parameter arena
  int64_t t_ = 0;
};

// Scales g (n) so its global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_ rule);
// max_norm <= 0 disables clipping. Returns the norm before clipping.
double clip_grad_norm(float* g, size_t n, double max_norm);

struct ScheduleConfig {
  std::string kind = "cosine";  // "constant" or "cosine" (linear warm-up, then cosine decay)
  double lr = 3e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr_ratio = 0.1;  // cosine decays to lr * min_lr_ratio
};

// Learning rate for optimizer step `step` (0-based). Warm-up rises linearly to lr over warmup_steps.
double lr_at(const ScheduleConfig& s, int64_t step);

}  // namespace r1
