#include "model/generate.h"

#include <algorithm>

#include "core/error.h"

namespace r1 {

std::vector<int32_t> greedy_generate(Model& model, const std::vector<int32_t>& prompt, int max_new_tokens,
                                     const std::vector<int>& stop_ids) {
  if (prompt.empty()) fail("generate: the prompt is empty (give at least one token, e.g. BOS)");
  std::vector<int32_t> seq = prompt, out;
  std::vector<float> logits(model.config().vocab_size);
  Batch batch;
  for (int step = 0; step < max_new_tokens; step++) {
    batch.clear();
    batch.append(seq, std::vector<int32_t>(seq.size(), -1));
    model.forward_last_logits(batch, logits.data());
    // First maximum wins on ties, as torch.argmax does.
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    seq.push_back(next);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
  }
  return out;
}

}  // namespace r1
