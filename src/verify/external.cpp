#include "verify/external.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/strings.h"
#include "io/json.h"

extern char** environ;

namespace r1::verify {

namespace {

// Writes to a pipe whose reader may be gone without dying of SIGPIPE: the signal is blocked in
// this thread for the write, and a SIGPIPE it raised is consumed before unblocking.
ssize_t write_nosigpipe(int fd, const char* data, size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const ssize_t w = write(fd, data, n);
  const int saved = errno;
  if (w < 0 && saved == EPIPE) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return w;
}

// The first 80 bytes of an answer, printable, for an error message.
std::string first80(std::string_view line) {
  std::string s(1, '\'');  // (built by appending: GCC 12 misreports "'" + string under -Wrestrict)
  s += printable(line.substr(0, 80), 400);
  s += line.size() > 80 ? "'..." : "'";
  return s;
}

}  // namespace

ExternalReward::ExternalReward(std::string cmd, double timeout_s)
    : cmd_(std::move(cmd)), timeout_s_(timeout_s) {
  if (cmd_.empty()) fail("external reward: the command is empty (give it with --reward-cmd)");
  if (!(timeout_s_ > 0)) fail("external reward: the timeout must be positive");
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0)
    fail("external reward '{}': pipe: {}", printable_middle(cmd_), std::strerror(errno));
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    const int e = errno;
    close(to_child[0]);
    close(to_child[1]);
    fail("external reward '{}': pipe: {}", printable_middle(cmd_), std::strerror(e));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);  // dup2 clears close-on-exec
  posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group: the destructor kills it whole
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string sh = "/bin/sh", dash_c = "-c";
  char* argv[] = {sh.data(), dash_c.data(), cmd_.data(), nullptr};
  const int rc = posix_spawn(&pid_, "/bin/sh", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(to_child[0]);
  close(from_child[1]);
  if (rc != 0) {
    close(to_child[1]);
    close(from_child[0]);
    pid_ = -1;
    fail("external reward '{}': cannot start /bin/sh: {}", printable_middle(cmd_), std::strerror(rc));
  }
  in_fd_ = to_child[1];
  out_fd_ = from_child[0];
  fcntl(in_fd_, F_SETFL, fcntl(in_fd_, F_GETFL) | O_NONBLOCK);
  fcntl(out_fd_, F_SETFL, fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
}

ExternalReward::~ExternalReward() {
  if (in_fd_ >= 0) close(in_fd_);
  if (out_fd_ >= 0) close(out_fd_);
  if (pid_ <= 0 || reaped_) return;
  // A second to exit on end of input, then the whole process group is killed.
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    const pid_t w = waitpid(pid_, &status, WNOHANG);
    if (w == pid_ || (w < 0 && errno != EINTR)) {
      kill(-pid_, SIGKILL);  // children it left behind
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

std::string ExternalReward::exit_description() {
  if (pid_ <= 0) return "is not running";
  int status = 0;
  pid_t w = -1;
  // The grader closed its stdout; give it a moment to finish exiting.
  for (int i = 0; i < 200; ++i) {
    w = waitpid(pid_, &status, WNOHANG);
    if (w != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (w != pid_) return "closed its output";
  reaped_ = true;
  kill(-pid_, SIGKILL);
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
           ")";
  return "stopped";
}

void ExternalReward::broken(const std::string& why) {
  error_ = "external reward '" + printable_middle(cmd_) + "': " + why;
  if (in_fd_ >= 0) {
    close(in_fd_);
    in_fd_ = -1;
  }
  throw Error(error_);
}

std::vector<double> ExternalReward::score(const std::vector<ExternalItem>& items) {
  if (!error_.empty()) throw Error(error_);
  std::string out_buf;
  for (const auto& it : items) {
    nlohmann::json j = {{"prompt", it.prompt},
                        {"completion", it.completion},
                        {"metadata", it.metadata ? *it.metadata : nlohmann::json()}};
    out_buf += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out_buf += '\n';
  }
  std::vector<double> rewards;
  rewards.reserve(items.size());
  size_t written = 0;
  const auto timeout = std::chrono::duration<double>(timeout_s_);
  auto last_progress = std::chrono::steady_clock::now();
  // Complete answer lines already read (from an earlier call's leftovers, or this one).
  auto take_lines = [&]() {
    size_t start = 0;
    for (size_t nl; rewards.size() < items.size() && (nl = pending_.find('\n', start)) != std::string::npos;
         start = nl + 1) {
      std::string_view line(pending_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const size_t k = rewards.size() + 1;
      const nlohmann::json a = parse_json_or_discarded(line);
      if (a.is_discarded() || !a.is_object())
        broken("answer " + std::to_string(k) + " is not a JSON object: " + first80(line));
      const auto r = a.find("reward");
      if (r == a.end() || !r->is_number())
        broken("answer " + std::to_string(k) + " has no numeric \"reward\": " + first80(line));
      rewards.push_back(r->get<double>());
    }
    pending_.erase(0, start);
  };
  take_lines();
  while (rewards.size() < items.size()) {
    struct pollfd fds[2];
    nfds_t n = 0;
    fds[n++] = {out_fd_, POLLIN, 0};
    const bool writing = written < out_buf.size() && in_fd_ >= 0;
    if (writing) fds[n++] = {in_fd_, POLLOUT, 0};
    const auto left = timeout - (std::chrono::steady_clock::now() - last_progress);
    const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
    if (ms <= 0)
      broken("no answer for " + fmt::format("{:g}", timeout_s_) + " s (" + std::to_string(rewards.size()) +
             " of " + std::to_string(items.size()) + " answered)");
    const int pr = poll(fds, n, ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      broken(std::string("poll: ") + std::strerror(errno));
    }
    if (pr == 0) continue;  // the deadline check above reports it
    if (writing && fds[1].revents != 0) {
      const ssize_t w = write_nosigpipe(in_fd_, out_buf.data() + written, out_buf.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
        if (written == out_buf.size()) {
          out_buf.clear();
          written = 0;
        }
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        // It stopped reading (closed stdin or exited): what it already answered may still come.
        close(in_fd_);
        in_fd_ = -1;
      }
    }
    if (fds[0].revents != 0) {
      char buf[65536];
      const ssize_t r = read(out_fd_, buf, sizeof buf);
      if (r > 0) {
        pending_.append(buf, static_cast<size_t>(r));
        last_progress = std::chrono::steady_clock::now();
        take_lines();
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        const std::string how = exit_description();
        broken(how + " after " + std::to_string(rewards.size()) + " of " + std::to_string(items.size()) +
               " answers");
      }
    }
    if (in_fd_ < 0 && written < out_buf.size() && rewards.size() < items.size() && fds[0].revents == 0) {
      // Nothing more can be sent; keep reading what is left until it closes or times out.
      written = out_buf.size();
    }
  }
  return rewards;
}

}  // namespace r1::verify
