#include "train/optim.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/model.h"

namespace r1 {

AdamW::AdamW(const AdamWConfig& cfg, size_t num_params)
    : cfg_(cfg), m_(num_params, 0.f), v_(num_params, 0.f) {}

void AdamW::step(Model& model, double lr) {
  R1_CHECK(m_.size() == model.num_params());
  t_++;
  const double bc1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(cfg_.beta2, static_cast<double>(t_)));
  const float step_size = static_cast<float>(lr / bc1);
  const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
  const float eps = static_cast<float>(cfg_.eps), inv_bc2 = static_cast<float>(1.0 / bc2_sqrt);
  float* p = model.params();
  const float* g = model.grads();
  for (const ParamSpec& s : model.param_specs()) {
    const float decay = s.decay ? static_cast<float>(1.0 - lr * cfg_.weight_decay) : 1.f;
    float* ps = p + s.offset;
    const float* gs = g + s.offset;
    float* ms = m_.data() + s.offset;
    float* vs = v_.data() + s.offset;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < s.numel; i++) {
      ms[i] = b1 * ms[i] + (1.f - b1) * gs[i];
      vs[i] = b2 * vs[i] + (1.f - b2) * gs[i] * gs[i];
      ps[i] = ps[i] * decay - step_size * ms[i] / (std::sqrt(vs[i]) * inv_bc2 + eps);
    }
  }
  model.mark_params_changed();  // (params() did too) caches of the weights repack: model.h version()
}

double clip_grad_norm(float* g, size_t n, double max_norm) {
  const double norm = std::sqrt(ops::sum_squares(g, static_cast<int64_t>(n)));
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      const float c = static_cast<float>(coef);
#pragma omp parallel for simd schedule(static)
      for (size_t i = 0; i < n; i++) g[i] *= c;
    }
  }
  return norm;
}

double lr_at(const ScheduleConfig& s, int64_t step) {
  if (s.warmup_steps > 0 && step < s.warmup_steps)
    return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == "constant") return s.lr;
  if (s.kind == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(1, s.total_steps - s.warmup_steps));
    const double progress = std::min(1.0, static_cast<double>(step - s.warmup_steps) / span);
    const double min_lr = s.lr * s.min_lr_ratio;
    return min_lr + 0.5 * (s.lr - min_lr) * (1.0 + std::cos(M_PI * progress));
  }
  fail("unknown learning-rate schedule '{}' (expected 'constant' or 'cosine')", s.kind);
}

}  // namespace r1
