#include "train/loss.h"

namespace r1 {

TokenLossFn weighted_cross_entropy(const Batch& batch, float weight) {
  return [&batch, weight](const float* logp, const float*, float* dlogp, float*) {
    double loss = 0;
    for (int64_t t = 0; t < batch.size(); t++) {
      const float w = batch.targets[t] >= 0 ? weight : 0.f;
      loss -= static_cast<double>(w) * logp[t];
      dlogp[t] = -w;
    }
    return loss;
  };
}

}  // namespace r1
