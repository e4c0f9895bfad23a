// Plain greedy decoding (one sequence, full recomputation per step): enough to check a model end
// to end. The batched rollout engine with a KV cache is a separate layer.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace r1 {

// Returns the generated ids (not including the prompt). Stops after max_new_tokens or when an
// id in stop_ids is produced (that id is included).
std::vector<int32_t> greedy_generate(Model& model, const std::vector<int32_t>& prompt, int max_new_tokens,
                                     const std::vector<int>& stop_ids);

}  // namespace r1
