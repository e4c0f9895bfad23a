#include "core/stop_signals.h"

#include <atomic>
#include <csignal>

namespace r1 {

namespace {
std::atomic<int> g_signal{0};
extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
}
}  // namespace

StopSignals::StopSignals()
    : int_(std::signal(SIGINT, on_stop_signal)), term_(std::signal(SIGTERM, on_stop_signal)) {
  g_signal.store(0);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, int_);
  std::signal(SIGTERM, term_);
}

bool StopSignals::raised() const {
  return g_signal.load() != 0;
}

}  // namespace r1
