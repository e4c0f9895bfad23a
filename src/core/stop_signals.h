// SIGINT/SIGTERM during a training run: while a StopSignals object lives, the signals only set a
// flag that the loop checks at the end of each step (then it saves and stops cleanly); the
// previous handlers come back however the run ends, errors included.
#pragma once

namespace r1 {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool raised() const;

 private:
  void (*int_)(int);
  void (*term_)(int);
};

}  // namespace r1
