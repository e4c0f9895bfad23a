// cpp-httplib's server with what a server facing untrusted clients needs on top: a deadline for
// receiving each whole request (httplib's own read timeout is per read, so a client sending one
// byte a second would hold a connection for ever), a way for a handler to see that its client
// went away (to cancel the generation it is waiting for), and idle keep-alive connections that
// close promptly when the server stops.
#pragma once

#include <httplib.h>

#include <atomic>

namespace r1::serve {

class HttpServer : public httplib::Server {
 public:
  // request_seconds: a request (line, headers and body) must arrive within this long of its first
  // byte, else the connection is closed. idle_seconds: keep-alive connections wait this long for
  // the next request.
  HttpServer(double request_seconds, double idle_seconds, int threads);
  // After bind_to_port: a longer queue of connections not yet accepted than httplib's 5 (with 5,
  // a burst of clients connecting at once overflows it and some of their connections are reset).
  bool set_backlog(int n);
  // Stop serving idle keep-alive connections (they close within 0.1 s); in-flight requests go on.
  void begin_stop() { stopping_ = true; }

  // In a handler (or a content provider, which runs on the handler's thread): whether the
  // client has closed its end of the connection.
  static bool client_gone();

 private:
  bool process_and_close_socket(socket_t sock) override;

  double request_seconds_, idle_seconds_;
  std::atomic<bool> stopping_{false};
};

}  // namespace r1::serve
