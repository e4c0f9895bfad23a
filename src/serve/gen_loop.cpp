#include "serve/gen_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>

#include "core/error.h"

namespace r1::serve {

std::vector<Job::Event> Job::wait(double timeout_seconds, bool& ended) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
               [&] { return !events_.empty() || ended_; });
  std::vector<Event> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  ended = ended_;
  return out;
}

bool Job::finished() const {
  std::lock_guard lock(mu_);
  return ended_;
}

std::string Job::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void Job::push(Event e) {
  {
    std::lock_guard lock(mu_);
    if (e.kind == Event::kDone && ++done_samples_ == n) ended_ = true;
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void Job::fail(std::string message) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    error_ = std::move(message);
    ended_ = true;
  }
  cv_.notify_all();
}

void Job::end() {
  {
    std::lock_guard lock(mu_);
    ended_ = true;
  }
  cv_.notify_all();
}

GenerationLoop::GenerationLoop(Model& model, const Tokenizer* tok, SchedulerConfig config)
    : sched_(model, tok, std::move(config)), sample_vocab_(sched_.sample_vocab()) {
  sched_.prepare();  // the KV pool and the (bf16) weight copy, once, before any request
  stats_.blocks_total = sched_.num_blocks();
  thread_ = std::thread([this] { run(); });
}

GenerationLoop::~GenerationLoop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void GenerationLoop::check(const std::vector<int32_t>& prompt, const RequestParams& params) {
  std::lock_guard lock(check_mu_);
  sched_.check(prompt, params, "");
}

std::shared_ptr<Job> GenerationLoop::submit(std::vector<int32_t> prompt, RequestParams params) {
  auto job = std::make_shared<Job>();
  job->n = params.n;
  {
    std::lock_guard lock(mu_);
    inbox_.push_back({std::move(prompt), std::move(params), job});
    stats_.waiting++;
  }
  cv_.notify_all();
  return job;
}

void GenerationLoop::cancel(const std::shared_ptr<Job>& job) {
  job->cancelled = true;
  {
    std::lock_guard lock(mu_);
    cancels_.push_back(job);
  }
  cv_.notify_all();
}

void GenerationLoop::cancel_all() {
  {
    std::lock_guard lock(mu_);
    cancel_all_ = true;
  }
  cv_.notify_all();
}

void GenerationLoop::publish_gauges() {
  stats_.running = sched_.running();
  stats_.blocks_in_use = sched_.blocks_in_use();
  stats_.live_samples = sched_.live_samples();
  stats_.prompt_tokens = sched_.stats().prefill_tokens;
  stats_.steps = sched_.stats().steps;
}

void GenerationLoop::run() {
  std::map<Job*, std::pair<Scheduler::RequestId, std::shared_ptr<Job>>> jobs;  // in the scheduler
  // Test hook: R1_TEST_STEP_DELAY_MS=N sleeps N ms after every forward pass, so that a test's
  // requests are still running when it acts on them (cancels, a full queue, SIGTERM), however
  // fast the machine is.
  int delay_ms = 0;
  if (const char* d = std::getenv("R1_TEST_STEP_DELAY_MS")) delay_ms = std::atoi(d);
  for (;;) {
    std::deque<Incoming> incoming;
    std::vector<std::shared_ptr<Job>> cancels;
    bool all = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !inbox_.empty() || !cancels_.empty() || cancel_all_ || !sched_.idle();
      });
      if (stop_) break;
      incoming.swap(inbox_);
      cancels.swap(cancels_);
      all = cancel_all_;
      cancel_all_ = false;
    }
    for (Incoming& in : incoming) {
      if (in.job->cancelled) {
        in.job->end();
        continue;
      }
      Job* key = in.job.get();
      std::shared_ptr<Job> job = in.job;
      Scheduler::Callbacks cb;
      auto sent = std::make_shared<std::vector<size_t>>(static_cast<size_t>(in.params.n), 0);
      cb.on_token = [this, job, sent](const Completion& c, int32_t token) {
        Job::Event e;
        e.kind = Job::Event::kToken;
        e.sample = c.sample_index;
        e.token = token;
        size_t& done = (*sent)[static_cast<size_t>(c.sample_index)];
        e.text = c.text.substr(std::min(done, c.text.size()));
        done = c.text.size();
        e.logprob = c.logprobs.back();
        if (!c.top_logprobs.empty()) e.top = c.top_logprobs.back();
        stats_.generated_tokens++;
        job->push(std::move(e));
      };
      cb.on_done = [job](Completion&& c) {
        Job::Event e;
        e.kind = Job::Event::kDone;
        e.sample = c.sample_index;
        e.completion = std::move(c);
        job->push(std::move(e));
      };
      try {
        const Scheduler::RequestId id =
            sched_.submit(std::move(in.prompt), std::move(in.params), std::move(cb));
        jobs[key] = {id, std::move(in.job)};
      } catch (const std::exception& e) {
        in.job->fail(e.what());
      }
    }
    for (const std::shared_ptr<Job>& job : cancels) {
      if (auto it = jobs.find(job.get()); it != jobs.end()) {
        sched_.cancel(it->second.first);
        jobs.erase(it);
      }
      job->end();
    }
    if (all) {
      for (auto& [key, entry] : jobs) {
        sched_.cancel(entry.first);
        entry.second->fail("the server is shutting down");
      }
      jobs.clear();
    }
    stats_.waiting = static_cast<int64_t>(sched_.waiting()) + [&] {
      std::lock_guard lock(mu_);
      return static_cast<int64_t>(inbox_.size());
    }();
    try {
      sched_.step();
      if (delay_ms > 0 && !sched_.idle()) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    } catch (const std::exception& e) {
      // A failed draw (non-finite logits): every job in the batch fails with the message; the
      // server goes on with an empty scheduler.
      for (auto& [key, entry] : jobs) entry.second->fail(e.what());
      jobs.clear();
      sched_.clear();
    }
    // Jobs whose samples all finished leave the map.
    std::erase_if(jobs, [](const auto& kv) { return kv.second.second->finished(); });
    publish_gauges();
  }
  for (auto& [key, entry] : jobs) entry.second->fail("the server is shutting down");
  std::lock_guard lock(mu_);
  for (Incoming& in : inbox_) in.job->fail("the server is shutting down");
}

}  // namespace r1::serve
