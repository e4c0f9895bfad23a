// A sandbox for one untrusted program (model-written code): a child process with a wall-clock
// timeout, CPU-time / address-space / file-size / process-count / open-file limits, no network,
// a fresh temporary working directory removed afterwards, output captured up to a cap, and every
// process it started killed at the end.
//
// Two containment modes (docs/ARCHITECTURE.md, "Sandbox and code reward"):
//  - namespaces (preferred, when the kernel lets us): new user, mount, network, PID, IPC and UTS
//    namespaces. The whole filesystem is remounted read-only except the working directory; the
//    network namespace has no interfaces but a down loopback; the program runs under a small
//    init (PID 1 of the namespace, with its own read-only /proc) whose exit kills everything
//    left in the namespace.
//  - fallback (a container that refuses user namespaces, or Limits::use_namespaces = false, or
//    R1_SANDBOX_NO_NAMESPACES=1 in the environment): a seccomp filter (no AF_INET/AF_INET6/
//    netlink/packet sockets, no ptrace, no setsid/setpgid, no new namespaces, no signals to the
//    scorer), Landlock (when the kernel has it) allowing writes only beneath the working
//    directory, and, when the scorer runs as root, a private unprivileged uid per run.
// In both modes the program runs under an intermediate process, so "kill my parent" never
// reaches the scorer, and rlimits are set in the program's own process right before exec.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace r1::sandbox {

struct Limits {
  double wall_seconds = 10;
  double cpu_seconds = 10;  // RLIMIT_CPU per process: SIGXCPU, then SIGKILL 1 s later
  size_t address_space_bytes = size_t(1) << 30;
  size_t file_size_bytes = size_t(16) << 20;
  int max_processes = 64;
  size_t output_cap_bytes = size_t(1) << 20;  // stdout + stderr together; beyond it: kill
  int max_open_files = 256;
  bool no_network = true;      // false: no network namespace and no socket filter
  bool use_namespaces = true;  // false forces the fallback mode
  bool use_landlock = true;    // fallback mode: Landlock when the kernel has it (false: tests)
};

struct File {
  std::string name;  // relative path inside the working directory (no "..", not absolute)
  std::string data;
  bool executable = false;
};

struct RunSpec {
  std::vector<std::string> argv;  // argv[0]: an absolute path, or a name looked up in PATH
  std::string stdin_data;
  std::vector<File> files;                               // written into the fresh directory
  std::vector<std::pair<std::string, std::string>> env;  // added to a minimal environment
  std::vector<std::string> collect;                      // files read back after the run
  Limits limits;
};

struct RunResult {
  int exit_code = -1;  // when the program exited normally
  int signal = 0;      // when a signal ended it (SIGKILL also after a timeout or output overflow)
  bool timed_out = false;
  bool output_truncated = false;
  std::string stdout_data, stderr_data;
  double wall_seconds = 0;
  std::string error;  // sandbox set-up failure (the program did not run); empty otherwise
  std::string mode;   // "namespaces" or "fallback"
  std::vector<std::pair<std::string, std::string>> collected;  // RunSpec::collect that existed

  bool exited_ok() const { return error.empty() && !timed_out && signal == 0 && exit_code == 0; }
};

// Runs one program; never throws for the program's behaviour (failures land in the result).
RunResult run(const RunSpec& spec);

// Whether the namespace mode works here (probed once, cached).
bool namespaces_available();

// Runs many specs with up to `workers` at once; results in input order.
class Pool {
 public:
  explicit Pool(int workers) : workers_(workers < 1 ? 1 : workers) {}
  std::vector<RunResult> run_all(const std::vector<RunSpec>& specs) const;
  int workers() const { return workers_; }

 private:
  int workers_;
};

}  // namespace r1::sandbox
