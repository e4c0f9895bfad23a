// Runs the r1 binary for end-to-end tests: arguments passed as they are (no shell), stdout and
// stderr captured, a timeout, and the exit status or the killing signal reported; plus the
// contract every refused input must meet (IsOneLineError).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace r1::testing {

struct RunResult {
  std::string program = "r1";
  std::vector<std::string> args;
  int exit_code = -1;  // valid when the process exited normally
  int signal = 0;      // the signal that killed it, 0 if it exited
  bool timed_out = false;
  std::string out, err;
  // The child's peak resident memory (wait4's ru_maxrss). It counts the pages the child shared
  // with this process when it was forked, so it bounds r1's own peak from above.
  long max_rss_kb = 0;
  double seconds = 0;  // wall time from fork to exit
};

inline std::string describe(const RunResult& r) {
  std::string s = "command: " + r.program;
  for (const auto& a : r.args) s += " '" + a + "'";
  if (r.timed_out) s += "\n  TIMED OUT (killed)";
  if (r.signal != 0)
    s += "\n  killed by signal " + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")";
  else
    s += "\n  exit status " + std::to_string(r.exit_code);
  s += "\n  stdout: <<" + r.out + ">>\n  stderr: <<" + r.err + ">>";
  return s;
}

// Runs `program` (a path) with args (stdin from stdin_path; this process's environment with
// OMP_NUM_THREADS=1 and `env`, each "NAME=VALUE", set over it), capturing stdout and stderr; kills it after
// timeout_s seconds.
inline RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                             int timeout_s = 120, const std::string& stdin_path = "/dev/null",
                             const std::vector<std::string>& env = {}) {
  RunResult r;
  r.program = program == R1_BINARY ? "r1" : program;
  r.args = args;
  // Everything the child needs is prepared before fork: it only calls async-signal-safe functions.
  std::vector<std::string> argv_store = {program};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  auto overridden = [&env](const char* e) {  // by `env` (or OMP_NUM_THREADS, set below)
    if (std::strncmp(e, "OMP_NUM_THREADS=", 16) == 0) return true;
    for (const std::string& x : env)
      if (std::strncmp(e, x.c_str(), x.find('=') + 1) == 0) return true;
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e)
    if (!overridden(*e)) env_store.emplace_back(*e);
  env_store.emplace_back("OMP_NUM_THREADS=1");
  env_store.insert(env_store.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  const int devnull = open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);  // dup2 clears close-on-exec on the copies
    dup2(err_pipe[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (devnull >= 0) close(devnull);
  close(out_pipe[1]);
  close(err_pipe[1]);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const int n = poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  struct rusage usage {};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  r.max_rss_kb = usage.ru_maxrss;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

// Runs R1_BINARY with args (stdin from stdin_path, OMP_NUM_THREADS=1), capturing stdout and
// stderr; kills it after timeout_s seconds.
inline RunResult run_r1(const std::vector<std::string>& args, int timeout_s = 120,
                        const std::string& stdin_path = "/dev/null") {
  return run_program(R1_BINARY, args, timeout_s, stdin_path);
}

// The contract for a refused input: status 1, nothing on stdout, and stderr exactly one line
// "r1: error: ..." containing every one of `needles`.
inline ::testing::AssertionResult IsOneLineError(const RunResult& r,
                                                 const std::vector<std::string>& needles) {
  auto bad = [&](const std::string& why) {
    return ::testing::AssertionFailure() << why << "\n" << describe(r);
  };
  if (r.timed_out) return bad("the command timed out");
  if (r.signal != 0) return bad("the command died by a signal");
  if (r.exit_code != 1) return bad("expected exit status 1");
  if (!r.out.empty()) return bad("expected nothing on stdout");
  const std::string prefix = "r1: error: ";
  if (r.err.rfind(prefix, 0) != 0) return bad("stderr does not start with '" + prefix + "'");
  if (r.err.empty() || r.err.back() != '\n' || std::count(r.err.begin(), r.err.end(), '\n') != 1)
    return bad("stderr is not exactly one line");
  if (r.err.find('\r') != std::string::npos) return bad("stderr holds a carriage return");
  for (const auto& n : needles)
    if (r.err.find(n) == std::string::npos) return bad("stderr does not mention '" + n + "'");
  return ::testing::AssertionSuccess();
}

// Starts R1_BINARY with args in the background (the environment inherited), for tests that
// signal a running command; wait_exit reaps it. stdout goes to out_path (empty: inherited),
// stderr to err_path (both truncated first), stdin comes from in_path (empty: inherited).
inline pid_t spawn_r1(const std::vector<std::string>& args, const std::string& out_path = "",
                      const std::string& err_path = "/dev/null", const std::string& in_path = "") {
  std::vector<std::string> argv_store = {R1_BINARY};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!out_path.empty()) {
      const int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || dup2(o, 1) < 0) _exit(127);
    }
    const int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (e < 0 || dup2(e, 2) < 0) _exit(127);
    if (!in_path.empty()) {
      const int i = open(in_path.c_str(), O_RDONLY);
      if (i < 0 || dup2(i, 0) < 0) _exit(127);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits until `path` holds at least `lines` complete lines; false if pid exits first or after a
// generous safety timeout (then pid is killed). For tests that signal a command once its output
// shows it reached a point (the safety timeout is not what the test measures).
inline bool wait_for_lines(pid_t pid, const std::string& path, size_t lines) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    size_t newlines = 0;
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
      for (int c; (c = std::fgetc(f)) != EOF;) newlines += c == '\n';
      std::fclose(f);
    }
    if (newlines >= lines) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    const timespec ms{0, 5000000};
    nanosleep(&ms, nullptr);
  }
  kill(pid, SIGKILL);
  return false;
}

// The exit status of pid, or 128 + the signal that killed it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace r1::testing
