#include "io/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <utility>

#include "core/error.h"

namespace r1 {

namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Closes a POSIX file descriptor on scope exit.
struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

// Returned by data() for empty files so callers never see a null pointer.
const uint8_t kEmptyByte = 0;

// Opens path read-only and checks it is a regular file; returns the fd (owned by guard).
struct stat open_regular(const std::string& path, FdGuard& guard) {
  guard.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (guard.fd < 0) fail("{}: cannot open: {}", path, errno_text(errno));
  struct stat st {};
  if (::fstat(guard.fd, &st) != 0) fail("{}: cannot stat: {}", path, errno_text(errno));
  if (S_ISDIR(st.st_mode)) fail("{}: cannot open: is a directory", path);
  if (!S_ISREG(st.st_mode)) fail("{}: cannot open: not a regular file", path);
  return st;
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path), data_(&kEmptyByte) {
  FdGuard guard;
  const struct stat st = open_regular(path, guard);
  if (st.st_size < 0) fail("{}: cannot open: negative file size", path);
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, guard.fd, 0);
  if (p == MAP_FAILED) fail("{}: cannot map ({} bytes): {}", path, size_, errno_text(errno));
  data_ = static_cast<const uint8_t*>(p);
  mapped_ = true;
  // The mapping outlives the descriptor; guard closes it here.
}

MappedFile::~MappedFile() {
  release();
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, &kEmptyByte)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, &kEmptyByte);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, false);
  }
  return *this;
}

void MappedFile::release() noexcept {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
  mapped_ = false;
  data_ = &kEmptyByte;
  size_ = 0;
}

std::string read_file(const std::string& path) {
  FdGuard guard;
  const struct stat st = open_regular(path, guard);
  std::string out;
  if (st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  // Read until EOF rather than trusting st_size (the file may grow or be a /proc file).
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(guard.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("{}: read failed: {}", path, errno_text(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer) {
  if (path.empty()) fail("cannot write a file with an empty path");
  // The counter keeps concurrent writers of the same path in one process apart.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      fmt::format("{}.tmp{}.{}", path, static_cast<long>(::getpid()), counter.fetch_add(1));

  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail("{}: cannot create temporary file '{}': {}", path, tmp, errno_text(errno));
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("{}: cannot open temporary file '{}': {}", path, tmp, errno_text(err));
  }

  // Removes the temporary file (and closes it if still open) unless the rename succeeded.
  struct Cleanup {
    std::FILE*& f;
    const std::string& tmp;
    bool committed = false;
    ~Cleanup() {
      if (f != nullptr) std::fclose(f);
      if (!committed) ::unlink(tmp.c_str());
    }
  } cleanup{f, tmp};

  try {
    writer(f);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find(path) != std::string::npos) throw;
    fail("{}: cannot write: {}", path, msg);
  } catch (const std::exception& e) {
    fail("{}: cannot write: {}", path, e.what());
  } catch (...) {
    fail("{}: cannot write: unknown exception", path);
  }

  errno = 0;
  if (std::ferror(f)) fail("{}: write failed: {}", path, errno ? errno_text(errno) : "I/O error");
  if (std::fflush(f) != 0) fail("{}: write failed: {}", path, errno_text(errno));
  if (::fsync(::fileno(f)) != 0) fail("{}: fsync failed: {}", path, errno_text(errno));
  const int rc = std::fclose(f);
  f = nullptr;
  if (rc != 0) fail("{}: close failed: {}", path, errno_text(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("{}: cannot rename temporary file '{}' over it: {}", path, tmp, errno_text(errno));
  cleanup.committed = true;

  // Make the rename itself durable. Some filesystems refuse fsync on directories (EINVAL);
  // the data is already in place then, so that is not an error.
  const std::string dir = parent_dir(path);
  FdGuard dguard;
  dguard.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dguard.fd < 0) fail("{}: cannot open directory '{}' to fsync: {}", path, dir, errno_text(errno));
  if (::fsync(dguard.fd) != 0 && errno != EINVAL && errno != EROFS)
    fail("{}: fsync of directory '{}' failed: {}", path, dir, errno_text(errno));
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  write_file_atomic(path, [&](std::FILE* f) {
    if (contents.empty()) return;
    if (std::fwrite(contents.data(), 1, contents.size(), f) != contents.size())
      fail("{}: write failed: {}", path, errno_text(errno));
  });
}

void make_dirs(const std::string& path) {
  if (path.empty()) fail("cannot create a directory with an empty path");
  // Create each prefix ending just before a '/', then the full path.
  for (size_t pos = 0; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    if (pos == 0) continue;  // the root
    const std::string prefix = path.substr(0, pos);
    if (prefix.back() == '/') continue;  // "a//b"
    struct stat st {};
    if (::stat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        fail("{}: cannot create directory: '{}' exists and is not a directory", path, prefix);
      continue;
    }
    if (::mkdir(prefix.c_str(), 0777) != 0) {
      const int err = errno;
      // Another process may have created it between stat and mkdir.
      if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
      fail("{}: cannot create directory '{}': {}", path, prefix, errno_text(err));
    }
  }
}

}  // namespace r1
