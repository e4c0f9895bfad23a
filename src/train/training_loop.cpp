#include "train/training_loop.h"

#include <omp.h>
#include <sys/resource.h>

#include <cstdio>

#include "core/error.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "kernels/blas.h"
#include "model/checkpoint.h"

namespace r1 {

RecipeSchema<TrainSettings> train_settings_schema() {
  using S = TrainSettings;
  RecipeSchema<S> s;
  s.add(KeyRule::positive("train.lr"), &S::lr)
      .add(KeyRule::string("train.schedule", {"cosine", "constant"}), &S::schedule)
      .add(KeyRule::int_at_least("train.warmup_steps", 0), &S::warmup_steps)
      .add(KeyRule::real("train.min_lr_ratio", 0, 1), &S::min_lr_ratio)
      .add(KeyRule::non_negative("train.weight_decay"), &S::weight_decay)
      .add(KeyRule::real("train.beta1", 0, 1, false, true), &S::beta1)
      .add(KeyRule::real("train.beta2", 0, 1, false, true), &S::beta2)
      .add(KeyRule::positive("train.eps"), &S::eps)
      .add(KeyRule::non_negative("train.grad_clip"), &S::grad_clip)
      .add(KeyRule::int_at_least("train.seed", 0), &S::seed)
      .add(KeyRule::integer("train.threads", 0, 4096), &S::threads)
      .add(KeyRule::int_at_least("output.save_every", 0), &S::save_every)
      .add_choice<DType>("output.dtype", {{"f32", DType::F32}, {"bf16", DType::BF16}},
                         [](S& x) -> DType& { return x.save_dtype; })
      .add_choice<DType>("train.compute", {{"f32", DType::F32}, {"bf16", DType::BF16}},
                         [](S& x) -> DType& { return x.compute.dtype; })
      .add(KeyRule::boolean("train.recompute"), [](S& x) -> bool& { return x.compute.recompute; })
      .add_rule(KeyRule::string("output.dir"))
      .add_rule(KeyRule::boolean("output.overwrite"));
  return s;
}

size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

TrainingLoop::TrainingLoop(std::string name, const Recipe& recipe, RunStart start,
                           const TrainSettings& settings, int64_t steps)
    : name_(std::move(name)),
      settings_(settings),
      steps_(steps),
      run_(recipe, start),
      schedule_{settings.schedule, settings.lr, settings.warmup_steps, steps, settings.min_lr_ratio} {
  if (settings.threads > 0) omp_set_num_threads(settings.threads);
  lr_at(schedule_, 0);  // validates the schedule before any work
  state_.seed = settings.seed;
}

TrainingLoop::~TrainingLoop() = default;

void TrainingLoop::set_steps(int64_t steps) {
  R1_CHECK(model_ == nullptr && steps >= 1);
  steps_ = steps;
  schedule_.total_steps = steps;
  lr_at(schedule_, 0);
}

const TrainState& TrainingLoop::attach(Model& model) {
  model_ = &model;
  const TrainSettings& t = settings_;
  model.set_compute(t.compute);
  if (t.compute.dtype == DType::BF16 && !bf16_kernels_available())
    std::fprintf(stderr,
                 "%s: warning: train.compute = \"bf16\" on a CPU without AVX-512 BF16 runs a slow scalar "
                 "product; \"f32\" is faster here\n",
                 name_.c_str());
  opt_.emplace(AdamWConfig{t.beta1, t.beta2, t.eps, t.weight_decay}, model.num_params());
  if (!run_.resume()) return state_;
  const std::string path = run_.path(RunDir::kState);
  state_ = load_train_state(path, model, *opt_);
  if (state_.seed != settings_.seed)
    fail("{}: the checkpoint's seed {} differs from the recipe's {}", path, state_.seed, settings_.seed);
  return state_;
}

void TrainingLoop::begin(const Recipe& recipe, bool samples) {
  // Every rank has checked everything (the run directory included) before rank 0 changes it.
  world().barrier();
  if (world().root()) {
    run_.begin(recipe, state_.step);
    metrics_ = std::make_unique<MetricsWriter>(run_.path(RunDir::kMetrics), run_.resume());
    if (samples) samples_ = std::make_unique<MetricsWriter>(run_.path(RunDir::kSamples), run_.resume());
    run_.record_changes(*metrics_, state_.step);
  } else {
    metrics_ = std::make_unique<MetricsWriter>("", false);
    samples_ = std::make_unique<MetricsWriter>("", false);
  }
  signals_.emplace();
}

double TrainingLoop::clip_gradients() {
  test_kill_in_step(state_.step + 1);
  world().sum(model_->grads(), model_->num_params());  // data parallelism: the global batch's gradient
  return clip_grad_norm(model_->grads(), model_->num_params(), settings_.grad_clip);
}

void TrainingLoop::save(bool with_model) {
  if (world().distributed()) {
    // The ranks take the same steps from the same summed gradients: their weights must be equal
    // to the bit. A rank that drifted would make the checkpoint (rank 0's) a lie about the others.
    const std::vector<std::string> h =
        world().all_gather(std::to_string(fnv1a(model_->params(), model_->num_params() * sizeof(float))));
    for (size_t r = 1; r < h.size(); r++)
      if (h[r] != h[0])
        fail("{}: step {}: the weights of rank {} differ from rank 0's (the ranks diverged)", name_,
             state_.step, r);
  }
  if (!world().root()) return;  // rank 0 writes the checkpoint; every rank's state is the same
  if (data_position) state_.data = data_position();
  save_train_state(run_.path(RunDir::kState), *model_, *opt_, state_);
  if (with_model && export_model) export_model(run_.path(RunDir::kModel));
}

bool TrainingLoop::end_step(Progress& progress) {
  state_.step++;
  const bool last = done();
  if (settings_.save_every > 0 && state_.step % settings_.save_every == 0 && !last) save(false);
  // Every rank stops at the same step: a signal (mpirun forwards it to all) may reach them at
  // different moments, so the decision is the maximum over the ranks.
  if (last) return false;
  const bool stop_here = stop_after_step(*signals_, state_.step);
  if (world().max(stop_here ? 1.0 : 0.0) == 0) return false;
  progress.finish();
  save(true);
  if (world().root())
    std::fprintf(stderr, "%s: interrupted at step %lld; state saved. Continue with --resume %s\n",
                 name_.c_str(), (long long)state_.step, run_.dir().c_str());
  interrupted_ = true;
  return true;
}

int TrainingLoop::finish(Progress& progress) {
  if (interrupted_) return 130;
  progress.finish();
  save(true);
  if (world().root()) run_.mark_complete();
  return 0;
}

}  // namespace r1
