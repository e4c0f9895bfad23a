// The generation thread of r1 serve: one thread owns the Scheduler and steps it while there is
// work; HTTP handler threads submit requests and cancel them through it, and read each request's
// tokens and finished samples from its Job as they come.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "rollout/scheduler.h"

namespace r1::serve {

// One request as the handler thread sees it: events appended by the generation thread.
class Job {
 public:
  struct Event {
    enum Kind { kToken, kDone } kind = kToken;
    int64_t sample = 0;
    int32_t token = -1;                    // kToken
    float logprob = 0;                     // kToken
    std::vector<TokenLogprob> top;         // kToken, with top_logprobs
    std::string text;                      // kToken: the text this token completed (UTF-8 may lag a token)
    std::optional<Completion> completion;  // kDone
  };
  // Waits for events (or the end of the job, or the timeout); returns those that arrived, in
  // order. Empty after the timeout; `ended` says whether the job ended (all samples done, or failed).
  std::vector<Event> wait(double timeout_seconds, bool& ended);
  // A failure of the whole job (the generation thread's error), or "" while there is none.
  std::string error() const;
  bool finished() const;  // every sample done, failed or cancelled

  // Generation-thread side.
  void push(Event e);
  void fail(std::string message);
  void end();

  std::atomic<bool> cancelled{false};
  int n = 1;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool ended_ = false;
  std::string error_;
  int done_samples_ = 0;
};

struct LoopStats {
  std::atomic<int64_t> waiting{0};  // requests not yet admitted (queued here or in the scheduler)
  std::atomic<int64_t> running{0};  // admitted, not finished
  std::atomic<int64_t> blocks_in_use{0};
  std::atomic<int64_t> blocks_total{0};
  std::atomic<int64_t> live_samples{0};
  std::atomic<int64_t> prompt_tokens{0};
  std::atomic<int64_t> generated_tokens{0};
  std::atomic<int64_t> steps{0};
};

class GenerationLoop {
 public:
  GenerationLoop(Model& model, const Tokenizer* tok, SchedulerConfig config);
  ~GenerationLoop();  // stops the thread; jobs still in flight are failed

  // Fails (r1::Error, one line) when the request cannot run at all (Scheduler::check), so the
  // handler can answer 400 before queueing. Thread-safe.
  void check(const std::vector<int32_t>& prompt, const RequestParams& params);
  // Queues a request; its events arrive on the returned job. Thread-safe.
  std::shared_ptr<Job> submit(std::vector<int32_t> prompt, RequestParams params);
  // Drops a job wherever it is; its blocks are freed at the next turn of the loop. Thread-safe.
  void cancel(const std::shared_ptr<Job>& job);
  // Cancels every job (shutdown). Thread-safe.
  void cancel_all();

  const LoopStats& stats() const { return stats_; }
  int64_t sample_vocab() const { return sample_vocab_; }

 private:
  void run();
  void publish_gauges();

  Scheduler sched_;  // only the loop thread touches it after construction (check() locks check_mu_)
  int64_t sample_vocab_;
  std::mutex check_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Incoming {
    std::vector<int32_t> prompt;
    RequestParams params;
    std::shared_ptr<Job> job;
  };
  std::deque<Incoming> inbox_;
  std::vector<std::shared_ptr<Job>> cancels_;
  bool cancel_all_ = false;
  bool stop_ = false;
  LoopStats stats_;
  std::thread thread_;
};

}  // namespace r1::serve
