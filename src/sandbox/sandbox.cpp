// The sandbox: see sandbox.h for the contract and docs/ARCHITECTURE.md for the design.
//
// Process tree of one run:
//   scorer (this process; may be multi-threaded)
//    └─ A: intermediate (setsid: leader of a fresh process group); in namespace mode it drops to
//          an unprivileged uid (when root), unshares the namespaces, writes the id maps and
//          remounts the filesystem read-only
//        ├─ namespace mode: B = PID 1 of the new PID namespace (waits for C, reports its status,
//        │  exits, which makes the kernel kill everything else in the namespace)
//        │   └─ C: the program
//        └─ fallback mode: C = the program (in A's process group; setsid/setpgid are denied)
// Everything a forked child does before exec is plain system calls on memory prepared by the
// parent (no allocation), as required after fork() in a multi-threaded process.
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace r1::sandbox {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Messages on the status pipe (each one write(), well under PIPE_BUF, so atomic).
struct Msg {
  int32_t kind;  // 'P' namespace init's outer pid (informational), 'S' program wait status, 'E' namespace
                 // set-up failure (a = stage, b = errno), 'X' program set-up failure, 'L' landlock abi
  int32_t a;
  int32_t b;
};

void send_msg(int fd, int kind, int a, int b) {
  Msg m{kind, a, b};
  ssize_t r;
  do r = write(fd, &m, sizeof m);
  while (r < 0 && errno == EINTR);
}

[[noreturn]] void child_fail(int fd, int kind, int stage) {
  send_msg(fd, kind, stage, errno);
  _exit(127);
}

bool write_all_raw(const char* path, const char* data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = strlen(data);
  bool ok = write(fd, data, n) == ssize_t(n);
  close(fd);
  return ok;
}

struct MountPoint {
  std::string path;
  unsigned long flags = 0;  // the mount's own nosuid/nodev/noexec/atime flags (locked in a userns)
};

// Everything the children need, prepared before fork.
struct Prep {
  bool ns = false;
  bool no_network = true;
  bool landlock = true;
  bool drop_uid = false;  // running as root: use a private unprivileged uid
  uid_t uid = 0;          // the uid the program runs as (outside the namespace)
  gid_t gid = 0;
  std::string uid_map, gid_map;
  std::string workdir;
  std::vector<MountPoint> mounts;
  std::string exe;
  std::vector<std::string> argv_s, env_s;
  std::vector<char*> argv, envp;
  rlim_t cpu = 0, as = 0, fsize = 0, nproc = 0, nofile = 0;
  const sock_fprog* seccomp = nullptr;
};

// ---- seccomp ----

struct Filter {
  std::vector<sock_filter> insns;
  sock_fprog prog{};
};

std::vector<sock_filter> build_filter(bool no_network, std::string& err) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    err = "seccomp_init failed";
    return {};
  }
  int rc = 0;
  auto deny = [&](int sys, int e) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(e), sys, 0);
  };
  for (int sys : {SCMP_SYS(ptrace),
                  SCMP_SYS(process_vm_readv),
                  SCMP_SYS(process_vm_writev),
                  SCMP_SYS(setsid),
                  SCMP_SYS(setpgid),
                  SCMP_SYS(unshare),
                  SCMP_SYS(setns),
                  SCMP_SYS(mount),
                  SCMP_SYS(umount2),
                  SCMP_SYS(pivot_root),
                  SCMP_SYS(keyctl),
                  SCMP_SYS(add_key),
                  SCMP_SYS(request_key),
                  SCMP_SYS(bpf),
                  SCMP_SYS(perf_event_open),
                  SCMP_SYS(userfaultfd),
                  SCMP_SYS(io_uring_setup),
                  SCMP_SYS(pidfd_open),
                  SCMP_SYS(pidfd_send_signal),
                  SCMP_SYS(pidfd_getfd),
                  SCMP_SYS(rt_sigqueueinfo),
                  SCMP_SYS(rt_tgsigqueueinfo),
                  SCMP_SYS(tkill)})
    deny(sys, EPERM);
  // clone3 passes its flags in memory, which seccomp cannot read: refuse it (glibc then uses clone).
  deny(SCMP_SYS(clone3), ENOSYS);
  for (uint64_t flag :
       {uint64_t(CLONE_NEWUSER), uint64_t(CLONE_NEWNS), uint64_t(CLONE_NEWNET), uint64_t(CLONE_NEWPID),
        uint64_t(CLONE_NEWIPC), uint64_t(CLONE_NEWUTS), uint64_t(CLONE_NEWCGROUP)})
    if (rc == 0)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  // No signal may reach the scorer (its pid, its process group, or "everyone").
  const uint32_t self = uint32_t(getpid()), group = uint32_t(-getpgrp()), all = uint32_t(-1);
  for (uint32_t target : {self, group, all}) {
    if (rc == 0)
      rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(kill), 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, target));
  }
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(tgkill), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, self));
  if (no_network) {
    for (int family : {AF_INET, AF_INET6, AF_PACKET, AF_NETLINK})
      if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, uint32_t(family)));
  }
  std::vector<sock_filter> out;
  if (rc == 0) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
      rc = seccomp_export_bpf(ctx, p[1]);
      close(p[1]);
      std::string bytes;
      char buf[4096];
      ssize_t n;
      while ((n = read(p[0], buf, sizeof buf)) > 0) bytes.append(buf, size_t(n));
      close(p[0]);
      if (rc == 0 && !bytes.empty() && bytes.size() % sizeof(sock_filter) == 0) {
        out.resize(bytes.size() / sizeof(sock_filter));
        memcpy(out.data(), bytes.data(), bytes.size());
      }
    } else {
      rc = -errno;
    }
  }
  seccomp_release(ctx);
  if (out.empty()) err = "seccomp filter could not be built (" + std::to_string(rc) + ")";
  return out;
}

const Filter* seccomp_filter(bool no_network, std::string& err) {
  static std::mutex mu;
  static Filter filters[2];
  static std::string errors[2];
  static bool built[2] = {false, false};
  std::lock_guard<std::mutex> lock(mu);
  const int i = no_network ? 1 : 0;
  if (!built[i]) {
    filters[i].insns = build_filter(no_network, errors[i]);
    filters[i].prog.len = static_cast<unsigned short>(filters[i].insns.size());
    filters[i].prog.filter = filters[i].insns.data();
    built[i] = true;
  }
  if (filters[i].insns.empty()) {
    err = errors[i];
    return nullptr;
  }
  return &filters[i];
}

// ---- namespace mode availability ----

std::atomic<int> g_ns_state{-1};  // -1 unknown, 0 refused, 1 works

bool ns_disabled_by_env() {
  const char* v = getenv("R1_SANDBOX_NO_NAMESPACES");
  return v && *v && strcmp(v, "0") != 0;
}

// ---- the parent's preparation ----

std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && isdigit(uint8_t(s[i + 1]))) {
      out += char((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<MountPoint> list_mounts() {
  std::vector<MountPoint> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mp;
    if (!(ss >> id >> parent >> dev >> root >> mp)) continue;
    MountPoint m;
    m.path = unescape_mountinfo(mp);
    struct statvfs sv;
    if (statvfs(m.path.c_str(), &sv) == 0) {
      if (sv.f_flag & ST_NOSUID) m.flags |= MS_NOSUID;
      if (sv.f_flag & ST_NODEV) m.flags |= MS_NODEV;
      if (sv.f_flag & ST_NOEXEC) m.flags |= MS_NOEXEC;
      if (sv.f_flag & ST_NOATIME) m.flags |= MS_NOATIME;
      if (sv.f_flag & ST_NODIRATIME) m.flags |= MS_NODIRATIME;
      if (sv.f_flag & ST_RELATIME) m.flags |= MS_RELATIME;
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string resolve_exe(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return name;
}

int count_processes_of(uid_t uid) {
  int n = 0;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (!isdigit(uint8_t(e->d_name[0]))) continue;
      struct stat st;
      if (stat((std::string("/proc/") + e->d_name).c_str(), &st) == 0 && st.st_uid == uid) n++;
    }
    closedir(d);
  }
  return n;
}

// Removes a tree even where the program took permissions away (chmod 0 on its directories).
void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path.c_str(), 0700);
    if (DIR* d = opendir(path.c_str())) {
      std::vector<std::string> names;
      while (dirent* e = readdir(d))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      closedir(d);
      for (const auto& n : names) remove_tree(path + "/" + n);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

uid_t private_uid() {
  static std::atomic<uint32_t> counter{0};
  return uid_t(0x40000000u + ((uint32_t(getpid()) & 0xFFFFFu) << 8) + (counter++ & 0xFFu));
}

// ---- the children (plain system calls only) ----

[[noreturn]] void exec_program(const Prep& p, bool apply_landlock) {
  const int st = 3;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, nullptr);
  if (chdir(p.workdir.c_str()) != 0) child_fail(st, 'X', 1);
  if (p.drop_uid && !p.ns) {
    if (setgroups(0, nullptr) != 0 || setgid(p.gid) != 0 || setuid(p.uid) != 0) child_fail(st, 'X', 2);
  }
  struct rlimit rl;
  // soft = v, hard = v (+ 1 s for CPU: SIGXCPU first, then SIGKILL), never above the current hard
  // limit (raising it would need privileges we may have dropped).
  auto lim = [&](int res, rlim_t v, rlim_t extra, int stage) {
    rlim_t cur = v, max = v + extra;
    if (getrlimit(res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
      cur = std::min(cur, rl.rlim_max);
      max = std::min(max, rl.rlim_max);
    }
    rl.rlim_cur = cur;
    rl.rlim_max = max;
    if (setrlimit(res, &rl) != 0) child_fail(st, 'X', stage);
  };
  lim(RLIMIT_CORE, 0, 0, 3);
  lim(RLIMIT_CPU, p.cpu, 1, 4);
  lim(RLIMIT_FSIZE, p.fsize, 0, 5);
  lim(RLIMIT_NOFILE, p.nofile, 0, 6);
  lim(RLIMIT_NPROC, p.nproc, 0, 7);
  lim(RLIMIT_AS, p.as, 0, 8);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(st, 'X', 9);
  if (apply_landlock) {
    // Writes only beneath the working directory (and to existing files under /dev: /dev/null).
    long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi >= 1) {
      uint64_t handled = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                         LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                         LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
      if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
#endif
      uint64_t dev_write = LANDLOCK_ACCESS_FS_WRITE_FILE;
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
      if (abi >= 3) handled |= LANDLOCK_ACCESS_FS_TRUNCATE, dev_write |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
      landlock_ruleset_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.handled_access_fs = handled;
      int rfd = int(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
      if (rfd < 0) child_fail(st, 'X', 10);
      landlock_path_beneath_attr pb;
      memset(&pb, 0, sizeof pb);
      pb.parent_fd = open(p.workdir.c_str(), O_PATH | O_CLOEXEC);
      pb.allowed_access = handled;
      if (pb.parent_fd < 0 || syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0)
        child_fail(st, 'X', 11);
      close(pb.parent_fd);
      pb.parent_fd = open("/dev", O_PATH | O_CLOEXEC);
      pb.allowed_access = dev_write;
      if (pb.parent_fd >= 0) {
        syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        close(pb.parent_fd);
      }
      if (syscall(SYS_landlock_restrict_self, rfd, 0) != 0) child_fail(st, 'X', 12);
      close(rfd);
      send_msg(st, 'L', int(abi), 0);
    }
  }
  if (p.seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p.seccomp, 0, 0) != 0) child_fail(st, 'X', 13);
  execve(p.exe.c_str(), p.argv.data(), p.envp.data());
  child_fail(st, 'X', 14);
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// A: the intermediate. fds on entry: in_r, out_w, err_w, st_w (anywhere).
[[noreturn]] void run_intermediate(const Prep& p, int in_r, int out_w, int err_w, int st_w) {
  // Keep only our four descriptors, as 0..3: a concurrent run's pipes must not stay open here.
  int fds[4] = {in_r, out_w, err_w, st_w};
  for (int& fd : fds) fd = fcntl(fd, F_DUPFD, 10);
  for (int i = 0; i < 4; i++) {
    if (fds[i] < 0 || dup2(fds[i], i) < 0) _exit(126);
  }
  syscall(SYS_close_range, 4u, ~0u, 0u);
  const int st = 3;
  fcntl(st, F_SETFD, FD_CLOEXEC);
  setsid();
  if (!p.ns) {
    pid_t c = fork();
    if (c < 0) child_fail(st, 'X', 20);
    if (c == 0) exec_program(p, p.landlock);
    int status = wait_for(c);
    send_msg(st, 'S', status, 0);
    _exit(0);
  }
  if (p.drop_uid) {
    if (setgroups(0, nullptr) != 0 || setgid(p.gid) != 0 || setuid(p.uid) != 0) child_fail(st, 'E', 1);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // so that /proc/self/uid_map stays ours after setuid
  }
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | (p.no_network ? CLONE_NEWNET : 0) | CLONE_NEWPID | CLONE_NEWIPC |
              CLONE_NEWUTS) != 0)
    child_fail(st, 'E', 2);
  if (!write_all_raw("/proc/self/setgroups", "deny") ||
      !write_all_raw("/proc/self/uid_map", p.uid_map.c_str()) ||
      !write_all_raw("/proc/self/gid_map", p.gid_map.c_str()))
    child_fail(st, 'E', 3);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) child_fail(st, 'E', 4);
  if (mount(p.workdir.c_str(), p.workdir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    child_fail(st, 'E', 5);
  for (const MountPoint& m : p.mounts) {
    if (m.path == p.workdir) continue;
    int r = mount(nullptr, m.path.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | m.flags, nullptr);
    if (r != 0 && m.path == "/") child_fail(st, 'E', 6);  // others (e.g. /proc parts) are best effort
  }
  // A lifeline: B sees EOF on it once A is gone (covers A dying before B's PR_SET_PDEATHSIG).
  int life[2];
  if (pipe2(life, O_CLOEXEC) != 0) child_fail(st, 'E', 7);
  pid_t b = fork();
  if (b < 0) child_fail(st, 'E', 8);
  if (b == 0) {
    // B: PID 1 of the namespace. When it exits, the kernel kills the rest of the namespace; it
    // dies with A (the scorer kills A, never B by pid: B's pid could be reused once reaped).
    close(life[1]);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    fcntl(life[0], F_SETFL, O_NONBLOCK);
    char c0;
    if (read(life[0], &c0, 1) == 0) _exit(0);
    // A /proc of the new PID namespace (read-only), so the scorer's /proc/PID/* is out of sight.
    // Best effort: a container whose /proc has locked over-mounts refuses it.
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, nullptr);
    setsid();
    pid_t c = fork();
    if (c < 0) child_fail(st, 'X', 21);
    if (c == 0) exec_program(p, false);
    for (;;) {
      int status = 0;
      pid_t w = waitpid(-1, &status, 0);
      if (w == c) {
        send_msg(st, 'S', status, 0);
        _exit(0);
      }
      if (w < 0 && errno != EINTR) _exit(0);
    }
  }
  close(life[0]);
  send_msg(st, 'P', b, 0);
  wait_for(b);
  _exit(0);
}

// ---- the parent ----

void set_nonblock(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// write() with SIGPIPE kept away from the process (the program may close its stdin).
ssize_t write_nosigpipe(int fd, const char* data, size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t r = write(fd, data, n);
  int e = errno;
  if (r < 0 && e == EPIPE) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return r;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n[0] == '/') return false;
  for (const auto& part : std::filesystem::path(n))
    if (part == "..") return false;
  return true;
}

RunResult run_once(const RunSpec& spec, bool ns) {
  RunResult res;
  res.mode = ns ? "namespaces" : "fallback";
  const double t0 = now_s();
  const Limits& L = spec.limits;
  if (spec.argv.empty()) {
    res.error = "empty argv";
    return res;
  }
  std::string seccomp_err;
  const Filter* filter = seccomp_filter(L.no_network, seccomp_err);
  if (!filter) {
    res.error = seccomp_err;
    return res;
  }

  Prep p;
  p.ns = ns;
  p.no_network = L.no_network;
  p.landlock = L.use_landlock;
  p.drop_uid = geteuid() == 0;
  p.uid = p.drop_uid ? private_uid() : geteuid();
  p.gid = p.drop_uid ? gid_t(p.uid) : getegid();
  p.uid_map = "0 " + std::to_string(p.uid) + " 1\n";
  p.gid_map = "0 " + std::to_string(p.gid) + " 1\n";
  p.seccomp = &filter->prog;

  const char* tmp = getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/r1sbx.XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    res.error = "mkdtemp failed: " + std::string(strerror(errno));
    return res;
  }
  p.workdir = tmpl;
  // From here on, the directory is removed on every path.
  struct DirGuard {
    std::string path;
    ~DirGuard() { remove_tree(path); }
  } guard{p.workdir};
  for (const File& f : spec.files) {
    if (!valid_name(f.name)) {
      res.error = "bad file name: " + f.name;
      return res;
    }
    std::filesystem::path full = std::filesystem::path(p.workdir) / f.name;
    std::error_code ec;
    std::filesystem::create_directories(full.parent_path(), ec);
    std::ofstream o(full, std::ios::binary);
    o.write(f.data.data(), std::streamsize(f.data.size()));
    o.close();
    if (!o) {
      res.error = "cannot write " + f.name;
      return res;
    }
    chmod(full.c_str(), f.executable ? 0755 : 0644);
  }
  if (p.drop_uid) {
    // The program runs as p.uid: give it its directory (and what we wrote into it).
    for (auto it = std::filesystem::recursive_directory_iterator(p.workdir);
         it != std::filesystem::recursive_directory_iterator(); ++it)
      if (lchown(it->path().c_str(), p.uid, p.gid) != 0) {
      }
    if (chown(p.workdir.c_str(), p.uid, p.gid) != 0) {
      res.error = "chown failed";
      return res;
    }
  }
  chmod(p.workdir.c_str(), 0700);
  if (ns) p.mounts = list_mounts();

  p.exe = resolve_exe(spec.argv[0]);
  p.argv_s = spec.argv;
  p.env_s = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + p.workdir, "TMPDIR=" + p.workdir, "LANG=C.UTF-8"};
  for (const auto& [k, v] : spec.env) p.env_s.push_back(k + "=" + v);
  for (auto& s : p.argv_s) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_s) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  auto secs = [](double s) { return rlim_t(std::max(1.0, std::ceil(s))); };
  p.cpu = secs(L.cpu_seconds);
  p.as = rlim_t(L.address_space_bytes);
  p.fsize = rlim_t(L.file_size_bytes);
  p.nofile = rlim_t(std::max(16, L.max_open_files));
  // RLIMIT_NPROC counts per user: a private uid or a fresh user namespace starts from zero
  // (+2: the namespace's init and the program itself); otherwise add what the user already runs.
  p.nproc = rlim_t(std::max(1, L.max_processes) + 2);
  if (!ns && !p.drop_uid) p.nproc += rlim_t(count_processes_of(geteuid()));

  int in_p[2], out_p[2], err_p[2], st_p[2];
  if (pipe2(in_p, O_CLOEXEC) != 0) {
    res.error = "pipe failed";
    return res;
  }
  if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0 || pipe2(st_p, O_CLOEXEC) != 0) {
    res.error = "pipe failed";
    close(in_p[0]), close(in_p[1]);
    return res;
  }
  pid_t a = fork();
  if (a == 0) run_intermediate(p, in_p[0], out_p[1], err_p[1], st_p[1]);
  close(in_p[0]), close(out_p[1]), close(err_p[1]), close(st_p[1]);
  if (a < 0) {
    res.error = "fork failed: " + std::string(strerror(errno));
    close(in_p[1]), close(out_p[0]), close(err_p[0]), close(st_p[0]);
    return res;
  }

  int in_w = in_p[1], out_r = out_p[0], err_r = err_p[0], st_r = st_p[0];
  set_nonblock(in_w), set_nonblock(out_r), set_nonblock(err_r), set_nonblock(st_r);
  size_t in_off = 0;
  if (spec.stdin_data.empty()) close(in_w), in_w = -1;
  bool have_status = false, setup_failed_ns = false;
  int wait_status = 0, landlock_abi = 0;
  std::string status_buf, setup_error;
  bool killed = false, cleaned = false;
  double hard_deadline = 0;
  const double deadline = t0 + std::max(0.05, L.wall_seconds);
  auto kill_all = [&] {
    // A is not reaped before the end, so neither its pid nor its group id can have been reused.
    // In namespace mode, A's death takes B (and with it the whole namespace) along.
    kill(-a, SIGKILL);
    kill(a, SIGKILL);
  };
  auto stop = [&](bool timeout) {
    if (killed) return;
    killed = true;
    if (timeout) res.timed_out = true;
    kill_all();
    hard_deadline = now_s() + 5;
  };
  char buf[65536];
  while (out_r >= 0 || err_r >= 0 || st_r >= 0) {
    double t = now_s();
    if (!killed && t >= deadline) stop(true);
    if (st_r < 0 && !cleaned) {
      // A (and B) are gone: nothing the program left may survive it.
      kill_all();
      cleaned = true;
      if (hard_deadline == 0) hard_deadline = t + 5;
    }
    if (hard_deadline > 0 && t >= hard_deadline) break;
    pollfd pfd[4];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1, idx_st = -1;
    if (in_w >= 0) idx_in = n, pfd[n++] = {in_w, POLLOUT, 0};
    if (out_r >= 0) idx_out = n, pfd[n++] = {out_r, POLLIN, 0};
    if (err_r >= 0) idx_err = n, pfd[n++] = {err_r, POLLIN, 0};
    if (st_r >= 0) idx_st = n, pfd[n++] = {st_r, POLLIN, 0};
    double until = killed || cleaned ? hard_deadline : deadline;
    int timeout_ms = int(std::clamp((until - t) * 1000.0 + 1, 1.0, 1000.0));
    int pr = poll(pfd, nfds_t(n), timeout_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (idx_in >= 0 && pfd[idx_in].revents) {
      if (pfd[idx_in].revents & POLLOUT) {
        ssize_t w = write_nosigpipe(in_w, spec.stdin_data.data() + in_off,
                                    std::min<size_t>(spec.stdin_data.size() - in_off, 65536));
        if (w > 0) in_off += size_t(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off >= spec.stdin_data.size())
          close(in_w), in_w = -1;
      } else {
        close(in_w), in_w = -1;
      }
    }
    auto drain = [&](int& fd, int idx, std::string& into) {
      if (idx < 0 || !pfd[idx].revents) return;
      ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        size_t used = res.stdout_data.size() + res.stderr_data.size();
        size_t room = L.output_cap_bytes > used ? L.output_cap_bytes - used : 0;
        into.append(buf, std::min(room, size_t(r)));
        if (size_t(r) > room) {
          res.output_truncated = true;
          stop(false);
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd), fd = -1;
      }
    };
    drain(out_r, idx_out, res.stdout_data);
    drain(err_r, idx_err, res.stderr_data);
    if (idx_st >= 0 && pfd[idx_st].revents) {
      ssize_t r = read(st_r, buf, sizeof buf);
      if (r > 0) {
        status_buf.append(buf, size_t(r));
        while (status_buf.size() >= sizeof(Msg)) {
          Msg m;
          memcpy(&m, status_buf.data(), sizeof m);
          status_buf.erase(0, sizeof m);
          if (m.kind == 'S') have_status = true, wait_status = m.a;
          if (m.kind == 'L') landlock_abi = m.a;
          if (m.kind == 'E')
            setup_failed_ns = true,
            setup_error = "namespace set-up failed at step " + std::to_string(m.a) + ": " + strerror(m.b);
          if (m.kind == 'X')
            setup_error = "program set-up failed at step " + std::to_string(m.a) + ": " + strerror(m.b);
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(st_r), st_r = -1;
      }
    }
  }
  kill_all();
  for (int fd : {in_w, out_r, err_r, st_r})
    if (fd >= 0) close(fd);
  wait_for(a);
  res.wall_seconds = now_s() - t0;
  if (landlock_abi > 0) res.mode += "+landlock";
  if (setup_failed_ns) {
    res.error = setup_error;
    res.mode = "namespaces-refused";
    return res;
  }
  if (!setup_error.empty()) {
    res.error = setup_error;
    return res;
  }
  if (have_status && WIFEXITED(wait_status) && !killed) {
    res.exit_code = WEXITSTATUS(wait_status);
  } else if (have_status && WIFSIGNALED(wait_status)) {
    res.signal = WTERMSIG(wait_status);
  } else if (have_status && WIFEXITED(wait_status)) {
    res.exit_code = WEXITSTATUS(wait_status);
  } else {
    res.signal = SIGKILL;  // killed by us, or its supervisor was killed (by it)
  }
  for (const std::string& name : spec.collect) {
    if (!valid_name(name)) continue;
    std::string full = p.workdir + "/" + name;
    int fd = open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && size_t(st.st_size) <= L.file_size_bytes) {
      std::string data;
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) data.append(buf, size_t(r));
      res.collected.emplace_back(name, std::move(data));
    }
    close(fd);
  }
  return res;
}

}  // namespace

RunResult run(const RunSpec& spec) {
  bool ns = spec.limits.use_namespaces && !ns_disabled_by_env() && g_ns_state.load() != 0;
  if (ns) {
    RunResult r = run_once(spec, true);
    if (r.mode != "namespaces-refused") {
      g_ns_state.store(1);
      return r;
    }
    g_ns_state.store(0);  // this kernel or container refuses: fall back from now on
  }
  return run_once(spec, false);
}

bool namespaces_available() {
  if (ns_disabled_by_env()) return false;
  if (g_ns_state.load() < 0) {
    RunSpec s;
    s.argv = {"/bin/true"};
    s.limits.wall_seconds = 10;
    RunResult r = run(s);
    if (g_ns_state.load() < 0) g_ns_state.store(r.mode.rfind("namespaces", 0) == 0 ? 1 : 0);
  }
  return g_ns_state.load() == 1;
}

std::vector<RunResult> Pool::run_all(const std::vector<RunSpec>& specs) const {
  std::vector<RunResult> out(specs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < specs.size();) out[i] = run(specs[i]);
  };
  const size_t n = std::min(specs.size(), size_t(workers_));
  if (n <= 1) {
    work();
    return out;
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; i++) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace r1::sandbox
