// What every trainer (`r1 pretrain`, `r1 sft`, `r1 grpo`, the stages of `r1 zero`) shares around
// its own step: the optimizer settings read from the recipe, the run directory, resuming from the
// training state, the learning-rate schedule, the metrics file, periodic checkpoints, SIGINT /
// SIGTERM (and the test hook that interrupts at a chosen step), peak memory, and the completion
// marker. A trainer is then its own setup plus a step function:
//
//   TrainingLoop loop("grpo", recipe, start, settings.train, steps);   // checks only
//   ... load and validate the model and data ...
//   loop.attach(model);              // the optimizer; loads state.safetensors when resuming
//   loop.begin(recipe);              // the run directory is written from here on
//   while (!loop.done()) { ...step...; loop.metrics().write(row); if (loop.end_step(progress)) break; }
//   return loop.finish();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/progress.h"
#include "core/recipe.h"
#include "core/stop_signals.h"
#include "io/metrics.h"
#include "model/model.h"
#include "train/optim.h"
#include "train/run_dir.h"
#include "train/train_state.h"

namespace r1 {

// The optimizer, schedule and checkpoint settings every trainer reads (train.*, output.*).
// Defaults differ by trainer (GRPO fine-tunes with a small constant rate), so each passes its own.
struct TrainSettings {
  double lr = 3e-4;
  std::string schedule = "cosine";  // "cosine" or "constant"
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.1;
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;  // global-norm clipping; 0 = off
  uint64_t seed = 1;
  int threads = 0;                // 0: all cores
  int64_t save_every = 0;         // checkpoint every N steps (and always at the end and on a signal)
  DType save_dtype = DType::F32;  // output.dtype: the exported model's weights ("f32" | "bf16")
  // train.compute ("f32" | "bf16") and train.recompute: how the trained model computes
  // (Model::set_compute), set by attach().
  ComputeConfig compute;
};

// train.lr, train.schedule, ..., output.save_every, and output.dir / output.overwrite (read by RunDir).
RecipeSchema<TrainSettings> train_settings_schema();

// Resident-set high-water mark of this process, in bytes (getrusage).
size_t peak_rss_bytes();

class TrainingLoop {
 public:
  // Checks the run directory (RunDir) and sets the thread count; writes nothing.
  TrainingLoop(std::string name, const Recipe& recipe, RunStart start, const TrainSettings& settings,
               int64_t steps);
  ~TrainingLoop();

  // What a checkpoint adds beyond parameters and optimizer state: the trainer's data position
  // (filled just before saving), and what an exported model directory holds besides the weights
  // (the tokenizer, copied or saved). Set before the first save.
  std::function<DataPosition()> data_position;
  std::function<void(const std::string& model_dir)> export_model;

  // The model being trained (it must outlive the loop): sets its compute (settings().compute),
  // makes the optimizer and, on resume,
  // loads the training state into both (seed checked against the recipe's). Returns the state
  // (step 0 for a fresh run).
  const TrainState& attach(Model& model);
  // Everything is checked: take the run directory (RunDir::begin) and open metrics.jsonl (and
  // samples.jsonl when `samples`), recording resume changes.
  void begin(const Recipe& recipe, bool samples = false);

  // The run's length when it is known only once the data is loaded (train.epochs); before attach().
  void set_steps(int64_t steps);

  bool done() const { return state_.step >= steps_; }
  int64_t step() const { return state_.step; }  // steps completed
  int64_t steps() const { return steps_; }
  double lr() const { return lr_at(schedule_, state_.step); }  // of the step about to run
  AdamW& optimizer() { return *opt_; }
  const TrainSettings& settings() const { return settings_; }
  RunDir& run() { return run_; }
  MetricsWriter& metrics() { return *metrics_; }
  MetricsWriter& samples() { return *samples_; }

  // Clips the gradients (train.grad_clip) and returns their norm before clipping.
  double clip_gradients();
  // One AdamW update at this step's learning rate.
  void optimizer_step() { opt_->step(*model_, lr()); }

  // After a step's work: counts it, checkpoints every save_every steps, and on a stop request
  // (signal or test hook) saves everything and returns true: the caller leaves its loop.
  bool end_step(Progress& progress);
  // Saves the state and the exported model and marks the run complete (0), or returns 130 after
  // an interruption.
  int finish(Progress& progress);

  void save(bool with_model);

 private:
  std::string name_;
  TrainSettings settings_;
  int64_t steps_;
  Model* model_ = nullptr;
  RunDir run_;
  std::optional<AdamW> opt_;
  ScheduleConfig schedule_;
  TrainState state_;
  std::optional<StopSignals> signals_;  // from begin(): a signal during setup still stops at once
  std::unique_ptr<MetricsWriter> metrics_, samples_;
  bool interrupted_ = false;
};

}  // namespace r1
