// An `r1 serve` process for end-to-end tests: started on a free port (--port 0), ready once it
// says where it listens, stopped with SIGTERM (whose exit status the test can check).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "run_r1.h"

extern char** environ;

namespace r1::testing {

class ServeProcess {
 public:
  // Starts `r1 serve --model MODEL --port 0 ARGS...`; fails the test (and port() is 0) if it does
  // not listen within timeout_s.
  explicit ServeProcess(const std::string& model, const std::vector<std::string>& args = {},
                        int timeout_s = 60) {
    std::vector<std::string> argv_store = {R1_BINARY, "serve", "--model", model, "--port", "0"};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    int err_pipe[2];
    if (pipe(err_pipe) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(err_pipe[1], 2);
      const int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      close(err_pipe[0]);
      close(err_pipe[1]);
      setenv("OMP_NUM_THREADS", "2", 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(err_pipe[1]);
    err_fd_ = err_pipe[0];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    const std::regex listening("listening on http://[^:]+:([0-9]+)");
    while (std::chrono::steady_clock::now() < until) {
      read_stderr(100);
      std::smatch m;
      if (std::regex_search(stderr_, m, listening)) {
        port_ = std::stoi(m[1]);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        break;
      }
    }
    ADD_FAILURE() << "r1 serve did not start; stderr: " << stderr_;
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (err_fd_ >= 0) close(err_fd_);
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  httplib::Client client(int read_timeout_s = 120) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout_s, 0);
    c.set_connection_timeout(10, 0);
    return c;
  }
  // SIGTERM, then waits up to timeout_s for the exit; returns the wait status (-1: still running,
  // killed).
  int terminate(int timeout_s = 30) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < until) {
      read_stderr(50);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        read_stderr(0);
        return status;
      }
    }
    return -1;
  }
  const std::string& stderr_text() {
    read_stderr(0);
    return stderr_;
  }

 private:
  void read_stderr(int wait_ms) {
    pollfd p{err_fd_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return;
    char buf[4096];
    const ssize_t n = read(err_fd_, buf, sizeof(buf));
    if (n > 0) stderr_.append(buf, static_cast<size_t>(n));
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
  std::string stderr_;
};

// A Prometheus gauge or counter without labels from /metrics text; -1 when absent.
inline double metric(const std::string& text, const std::string& name) {
  const std::regex re("(^|\n)" + name + " ([0-9.eE+-]+)");
  std::smatch m;
  return std::regex_search(text, m, re) ? std::stod(m[2]) : -1;
}

using json = nlohmann::json;

inline json post(httplib::Client& c, const std::string& path, const json& body, int* status = nullptr) {
  auto r = c.Post(path, body.dump(), "application/json");
  EXPECT_TRUE(r) << "no answer to " << path;
  if (!r) return json();
  if (status) *status = r->status;
  return json::parse(r->body);
}

// The samples `r1 generate` prints for these arguments, by sample index.
inline std::vector<json> generate(const std::vector<std::string>& args) {
  const auto r = r1::testing::run_program(R1_BINARY, args);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  std::vector<json> out;
  size_t at = 0;
  while (at < r.out.size()) {
    const size_t nl = r.out.find('\n', at);
    out.push_back(json::parse(r.out.substr(at, nl - at)));
    at = nl == std::string::npos ? r.out.size() : nl + 1;
  }
  std::sort(out.begin(), out.end(),
            [](const json& a, const json& b) { return a["sample_index"] < b["sample_index"]; });
  return out;
}

// The server's SSE stream of one request: every data line's JSON, and whether [DONE] ended it.
struct Stream {
  std::vector<json> chunks;
  bool done = false;
};
inline Stream stream(httplib::Client& c, const std::string& path, const json& body) {
  Stream s;
  std::string buf;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    size_t at;
    while ((at = buf.find("\n\n")) != std::string::npos) {
      const std::string line = buf.substr(0, at);
      buf.erase(0, at + 2);
      EXPECT_EQ(line.rfind("data: ", 0), 0u) << line;
      const std::string data_text = line.substr(6);
      if (data_text == "[DONE]")
        s.done = true;
      else
        s.chunks.push_back(json::parse(data_text));
    }
    return true;
  };
  auto r = c.send(req);
  EXPECT_TRUE(r);
  if (r) {
    EXPECT_EQ(r->status, 200);
  }
  return s;
}

}  // namespace r1::testing
