#include "rollout/engine.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "core/error.h"

namespace r1 {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

SchedulerConfig Engine::scheduler_config(const GenerationConfig& c) {
  return static_cast<const SchedulerConfig&>(c);
}

RequestParams Engine::request_params(int64_t index) const {
  RequestParams p = config_;
  p.index = index;
  return p;
}

Engine::Engine(Model& model, const Tokenizer* tokenizer, GenerationConfig config)
    : config_(config), sched_(model, tokenizer, scheduler_config(config)) {
  set_config(std::move(config));
}

void Engine::set_config(GenerationConfig config) {
  // A bad setting fails here, not at the first prompt, and leaves the engine as it was.
  sched_.clear();
  const SchedulerConfig old = sched_.config();
  sched_.reconfigure(scheduler_config(config));
  std::swap(config_, config);
  try {
    sched_.check_params(request_params(0));
  } catch (...) {
    std::swap(config_, config);
    sched_.reconfigure(old);
    throw;
  }
}

Engine::~Engine() = default;

void Engine::generate(const std::vector<std::vector<int32_t>>& prompts,
                      const std::function<void(Completion&&)>& on_done, int64_t first_index,
                      const std::function<void(const Completion&, int32_t)>& on_token) {
  std::vector<int64_t> indices(prompts.size());
  for (size_t i = 0; i < prompts.size(); i++) indices[i] = first_index + static_cast<int64_t>(i);
  generate(prompts, indices, on_done, on_token);
}

void Engine::check(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices) {
  R1_CHECK(indices.empty() || indices.size() == prompts.size());
  // Every prompt's own faults first, then whether each fits in the pool.
  for (const bool pool : {false, true})
    for (size_t i = 0; i < prompts.size(); i++) {
      const int64_t index = indices.empty() ? static_cast<int64_t>(i) : indices[i];
      sched_.check(prompts[i], request_params(index), std::to_string(index), pool);
    }
}

void Engine::generate(const std::vector<std::vector<int32_t>>& prompts, const std::vector<int64_t>& indices,
                      const std::function<void(Completion&&)>& on_done,
                      const std::function<void(const Completion&, int32_t)>& on_token) {
  const double t_start = now_seconds();
  R1_CHECK(indices.size() == prompts.size());
  sched_.clear();  // also after a call that ended in an exception
  check(prompts, indices);
  sched_.refresh_weights();
  try {
    const Scheduler::Callbacks callbacks{on_token, on_done};
    for (size_t i = 0; i < prompts.size(); i++)
      sched_.submit(prompts[i], request_params(indices[i]), callbacks);
    while (!sched_.idle()) {
      if (stop_ && stop_()) throw GenerationStopped();
      sched_.step();
    }
  } catch (...) {
    sched_.clear();
    throw;
  }
  sched_.stats().seconds += now_seconds() - t_start;
}

std::vector<Completion> Engine::generate_all(const std::vector<std::vector<int32_t>>& prompts,
                                             int64_t first_index) {
  std::vector<Completion> out;
  generate(
      prompts, [&out](Completion&& c) { out.push_back(std::move(c)); }, first_index);
  std::sort(out.begin(), out.end(), [](const Completion& a, const Completion& b) {
    return a.prompt_index != b.prompt_index ? a.prompt_index < b.prompt_index
                                            : a.sample_index < b.sample_index;
  });
  return out;
}

}  // namespace r1
