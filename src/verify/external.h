// An external reward: a user command (any language) that grades completions. It is started once
// with /bin/sh -c CMD in its own process group and kept running across calls. Per item r1 writes
// one JSON line {"prompt": ..., "completion": ..., "metadata": ...} to its stdin and reads one
// JSON line {"reward": number, ...} from its stdout, in order. Batches are written and read at the
// same time (poll), so a batch of any size cannot deadlock on full pipes. The grader's stderr is
// r1's stderr.
//
// Failures are r1::Errors of one line naming the command: it exited or was killed (with its exit
// status or signal), it answered something that is not JSON (the first 80 characters quoted),
// an answer without a numeric "reward", or no output for timeout_s seconds. After a failure the
// object is broken: every later call fails with the same message.
// The destructor closes the grader's stdin, gives it a second to exit, then kills its process
// group and reaps it (no zombies).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace r1::verify {

struct ExternalItem {
  std::string_view prompt;
  std::string_view completion;
  const nlohmann::json* metadata = nullptr;  // null: "metadata": null
};

class ExternalReward {
 public:
  explicit ExternalReward(std::string cmd, double timeout_s = 60.0);
  ~ExternalReward();
  ExternalReward(const ExternalReward&) = delete;
  ExternalReward& operator=(const ExternalReward&) = delete;

  // One reward per item, in order.
  std::vector<double> score(const std::vector<ExternalItem>& items);
  double score_one(const ExternalItem& item) { return score({item}).at(0); }

  const std::string& command() const { return cmd_; }

 private:
  [[noreturn]] void broken(const std::string& why);
  std::string exit_description();  // reaps the child: "exited with status 3", "was killed by signal 9"

  std::string cmd_;
  double timeout_s_;
  pid_t pid_ = -1;
  int in_fd_ = -1;   // the grader's stdin (we write)
  int out_fd_ = -1;  // the grader's stdout (we read)
  bool reaped_ = false;
  std::string pending_;  // bytes read past the last complete answer line
  std::string error_;    // set once broken
};

}  // namespace r1::verify
