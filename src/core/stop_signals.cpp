#include "core/stop_signals.h"

#include <time.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>

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

int StopSignals::signal() const {
  return g_signal.load();
}

bool test_stop_requested(int64_t units_done) {
  struct Hook {
    int64_t after = -1;
    bool wait = false;
  };
  static const Hook hook = [] {
    Hook h;
    const char* v = std::getenv("R1_TEST_STOP_AFTER");
    if (v == nullptr) return h;
    std::string s = v;
    bool wait = false;
    if (s.ends_with(":signal")) s.resize(s.size() - 7), wait = true;
    try {
      size_t used = 0;
      const long long n = std::stoll(s, &used);
      if (used == s.size() && n >= 0) h.after = n, h.wait = wait;
    } catch (const std::exception&) {
    }
    return h;
  }();
  if (hook.after < 0 || units_done < hook.after) return false;
  if (hook.wait)
    while (g_signal.load() == 0) {
      const timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
    }
  return true;
}

}  // namespace r1
