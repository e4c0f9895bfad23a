// The training-state checkpoint: parameters, AdamW moments, step and data position in one
// safetensors file, written atomically (temporary file, fsync, rename).
#pragma once

#include <cstdint>
#include <string>

#include "model/model.h"
#include "train/data.h"
#include "train/optim.h"

namespace r1 {

struct TrainState {
  int64_t step = 0;  // optimizer steps completed
  DataPosition data;
  uint64_t seed = 0;
};

void save_train_state(const std::string& path, const Model& model, AdamW& opt, const TrainState& st);
// Loads into an existing model (same configuration) and optimizer; fails naming the file on any
// mismatch.
TrainState load_train_state(const std::string& path, Model& model, AdamW& opt);

}  // namespace r1
