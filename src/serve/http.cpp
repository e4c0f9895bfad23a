#include "serve/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace r1::serve {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

thread_local int t_socket = -1;  // the connection the current handler thread serves

// Waits until fd is ready for `events` or the deadline passes; true when ready.
bool wait_ready(int fd, short events, double deadline) {
  for (;;) {
    const double left = deadline - now_seconds();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min(left * 1000.0, 1e9)) + 1);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

void addr_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

// A socket stream whose reads end at a deadline (the whole request's), and whose writes give up
// after write_seconds without progress.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int fd, double write_seconds) : fd_(fd), write_seconds_(write_seconds) {}
  void set_read_deadline(double deadline) { deadline_ = deadline; }

  bool is_readable() const override { return wait_ready(fd_, POLLIN, deadline_); }
  bool is_writable() const override {
    if (HttpServer::client_gone()) return false;
    return wait_ready(fd_, POLLOUT, now_seconds() + write_seconds_);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (!wait_ready(fd_, POLLIN, deadline_)) return -1;
    for (;;) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!wait_ready(fd_, POLLOUT, now_seconds() + write_seconds_)) return -1;
    for (;;) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { addr_of(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { addr_of(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

 private:
  int fd_;
  double write_seconds_;
  double deadline_ = 0;
};

}  // namespace

HttpServer::HttpServer(double request_seconds, double idle_seconds, int threads)
    : request_seconds_(request_seconds), idle_seconds_(idle_seconds) {
  new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // httplib's default sets SO_REUSEPORT, with which a second server binds a port in use and the
  // kernel splits the connections between the two; SO_REUSEADDR alone refuses it (and still
  // rebinds at once after a restart).
  set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

bool HttpServer::set_backlog(int n) {
  return ::listen(svr_sock_, n) == 0;  // listen() again on a listening socket sets its backlog
}

bool HttpServer::client_gone() {
  if (t_socket < 0) return false;
  pollfd p{t_socket, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  if (p.revents & POLLIN) {  // data (a pipelined request) or the end of the stream
    char c;
    const ssize_t n = ::recv(t_socket, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  return false;
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  t_socket = sock;
  DeadlineStream strm(sock, static_cast<double>(write_timeout_sec_) + write_timeout_usec_ / 1e6);
  bool ok = true;
  for (size_t count = keep_alive_max_count_; count > 0; count--) {
    // Wait for the first byte of the next request (the first one: as long as a request may take).
    const double wait = count == keep_alive_max_count_ ? request_seconds_ : idle_seconds_;
    const double until = now_seconds() + wait;
    bool readable = false;
    while (!readable && now_seconds() < until && !(stopping_ && count != keep_alive_max_count_)) {
      readable = wait_ready(sock, POLLIN, std::min(until, now_seconds() + 0.1));
      if (!is_running()) break;
    }
    if (!readable) break;
    char c;
    if (::recv(sock, &c, 1, MSG_PEEK) <= 0) break;  // closed by the client
    strm.set_read_deadline(now_seconds() + request_seconds_);
    bool closed = false;
    const bool last = count == 1 || stopping_ || !is_running();
    ok = process_request(strm, last, closed, [&](httplib::Request& req) {
      strm.get_remote_ip_and_port(req.remote_addr, req.remote_port);
      strm.get_local_ip_and_port(req.local_addr, req.local_port);
    });
    if (!ok || closed || last) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  t_socket = -1;
  return ok;
}

}  // namespace r1::serve
