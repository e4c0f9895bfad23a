// Per-token losses for Model::forward_backward.
#pragma once

#include "model/model.h"

namespace r1 {

// sum over target tokens of weight * -log p(target): with weight = 1/N over a step's N target
// tokens this is the mean cross-entropy, and micro-batches accumulate to the large-batch gradient.
// `batch` must outlive the returned function.
TokenLossFn weighted_cross_entropy(const Batch& batch, float weight);

}  // namespace r1
