#include "train/run_dir.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "core/stop_signals.h"
#include "dist/comm.h"
#include "io/file.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

// The pid written in a run directory's lock file ("" when unreadable).
std::string lock_holder(const std::string& lock_path) {
  std::string pid;
  try {
    pid = read_file(lock_path);
  } catch (const Error&) {
  }
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

// An open-file-description lock on the whole file: it conflicts with any other open of the
// file, in this process or another, and goes when the descriptor is closed (or the process ends).
struct flock whole_file(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return fl;
}

[[noreturn]] void refuse_busy(const std::string& dir, const std::string& lock_path) {
  const std::string pid = lock_holder(lock_path);
  fail(
      "{}: another r1 process{} is writing this run directory; wait for it to finish or choose another "
      "output.dir",
      dir, pid.empty() ? "" : " (pid " + pid + ")");
}

}  // namespace

RunDir::RunDir(const Recipe& r, RunStart start) : start_(start) {
  dir_ = r.get_string("output.dir");
  if (dir_.empty()) fail("{}: key 'output.dir' must not be empty", r.name());
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec)) fail("{}: output.dir is not a directory", dir_);
  // A live writer holds the lock: refuse now, before any work (begin() checks again).
  const std::string lock = path(kLock);
  if (fs::exists(lock, ec)) {
    const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct flock fl = whole_file(F_WRLCK);  // a test: F_OFD_GETLK takes no lock
      const bool busy = ::fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
      ::close(fd);
      if (busy) refuse_busy(dir_, lock);
    }
  }
  const bool has_state = fs::exists(path(kState), ec);
  if (start_.resume) {
    if (!has_state) fail("{}: nothing to resume (no {})", dir_, kState);
    const std::string saved_path = path(kRecipe);
    if (!fs::exists(saved_path, ec)) fail("{}: nothing to resume (no {})", dir_, kRecipe);
    const Recipe saved = Recipe::load(saved_path);
    changes_ = Recipe::differences(saved, r, {"output.dir"});
    if (!changes_.empty() && !start_.allow_changes)
      fail(
          "{}: the settings differ from the saved run's ({}); a resumed run must use the same settings to "
          "continue exactly: drop the changes, or pass --allow-changes to resume with them (they are "
          "recorded in metrics.jsonl)",
          dir_, fmt::join(changes_, "; "));
  } else if (has_state || is_complete(dir_)) {
    if (!r.get_bool("output.overwrite", false))
      fail("{}: already holds a run; resume it with --resume, or set output.overwrite=true to replace it",
           dir_);
  }
}

RunDir::~RunDir() = default;

DirLock::DirLock(const std::string& dir) {
  make_dirs(dir);
  const std::string lock = (fs::path(dir) / RunDir::kLock).string();
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("{}: cannot create the lock file: {}", lock, std::strerror(errno));
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EAGAIN || err == EACCES) refuse_busy(dir, lock);
    fail("{}: cannot lock: {}", lock, std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0)
    fail("{}: cannot write: {}", lock, std::strerror(errno));
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

std::string RunDir::path(const char* name) const {
  return (fs::path(dir_) / name).string();
}

void RunDir::begin(const Recipe& r, int64_t resumed_step) {
  lock_ = std::make_unique<DirLock>(dir_);

  std::error_code ec;
  fs::remove(path(kComplete), ec);  // the run is no longer finished, whatever happens next
  if (!start_.resume) {
    // The run being replaced (output.overwrite): gone only now, after every check passed.
    for (const char* f : {kState, kMetrics, kSamples, kReport}) fs::remove(path(f), ec);
    fs::remove_all(path(kModel), ec);
  } else {
    // Steps past the checkpoint are redone: their lines go, so none is logged twice.
    truncate_metrics(path(kMetrics), resumed_step);
    truncate_metrics(path(kSamples), resumed_step);
  }
  write_file_atomic(path(kRecipe), r.to_toml());
}

void RunDir::record_changes(MetricsWriter& metrics, int64_t step) const {
  if (changes_.empty()) return;
  metrics.write({{"step", step}, {"resume_changes", changes_}});
}

void RunDir::mark_complete() const {
  write_file_atomic(path(kComplete), "complete\n");
}

bool RunDir::is_complete(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / kComplete, ec);
}

namespace {
// R1_TEST_RANK=R limits the hooks to rank R of a distributed job.
bool test_hook_at(const char* name, int64_t step) {
  const char* at = std::getenv(name);
  if (at == nullptr || *at == 0 || std::atoll(at) != step) return false;
  const char* rank = std::getenv("R1_TEST_RANK");
  return rank == nullptr || *rank == 0 || std::atoi(rank) == world().rank();
}
}  // namespace

void test_kill_in_step(int64_t step) {
  if (test_hook_at("R1_TEST_KILL_IN_STEP", step)) std::raise(SIGKILL);
  if (test_hook_at("R1_TEST_FAIL_IN_STEP", step)) fail("step {}: the R1_TEST_FAIL_IN_STEP hook", step);
}

bool stop_after_step(const StopSignals& signals, int64_t step) {
  if (test_hook_at("R1_TEST_KILL_AT_STEP", step)) std::raise(SIGKILL);
  if (test_hook_at("R1_TEST_SIGNAL_AT_STEP", step))
    std::raise(std::string_view(std::getenv("R1_TEST_SIGNAL_AT_STEP")).ends_with(":int") ? SIGINT : SIGTERM);
  if (signals.raised()) return true;
  return test_hook_at("R1_TEST_INTERRUPT_AT_STEP", step);
}

}  // namespace r1
