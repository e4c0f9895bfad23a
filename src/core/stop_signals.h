// SIGINT/SIGTERM during a training run: while a StopSignals object lives, the signals only set a
// flag that the loop checks at the end of each step (then it saves and stops cleanly); the
// previous handlers come back however the run ends, errors included.
#pragma once

#include <cstdint>

namespace r1 {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool raised() const;
  int signal() const;  // the signal that arrived (SIGINT or SIGTERM), 0 if none

 private:
  void (*int_)(int);
  void (*term_)(int);
};

// A test hook for interrupted commands, so tests need no timing. A long command that holds a
// StopSignals calls this after each unit of work it completes (r1 eval: a problem, all its
// samples scored and saved; r1 generate: a sample printed), and stops as on SIGINT when it
// returns true. The environment variable R1_TEST_STOP_AFTER says when:
//   N         true once N units are done: as if SIGINT arrived then;
//   N:signal  once N units are done, waits for a real SIGINT or SIGTERM (which a test sends
//             when it sees the N units' output), then true: the signal path itself, with no race
//             against the command finishing first.
// Unset, empty or malformed: always false. The variable is read once, on the first call.
bool test_stop_requested(int64_t units_done);

}  // namespace r1
