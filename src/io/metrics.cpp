#include "io/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/json.h"

namespace r1 {

namespace {

// A file's last byte, or -1 if it is empty or unreadable.
int last_byte(std::FILE* f) {
  if (std::fseek(f, 0, SEEK_END) != 0) return -1;
  const long size = std::ftell(f);
  if (size <= 0) return -1;
  if (std::fseek(f, size - 1, SEEK_SET) != 0) return -1;
  const int c = std::fgetc(f);
  std::fseek(f, 0, SEEK_END);
  return c;
}

}  // namespace

MetricsWriter::MetricsWriter(const std::string& path, bool append) : path_(path) {
  if (path.empty()) return;
  // "a+" rather than "a" so the last byte can be read back (writes still always append).
  file_.reset(std::fopen(path.c_str(), append ? "a+" : "w"));
  if (!file_) fail("{}: cannot open metrics file for writing: {}", path, std::strerror(errno));
  // A run killed in the middle of a write can leave a last line without its newline; start
  // on a fresh line so the first new row is not glued onto it.
  if (append) {
    const int c = last_byte(file_.get());
    if (c != -1 && c != '\n' && (std::fputc('\n', file_.get()) == EOF || std::fflush(file_.get()) != 0))
      fail("{}: cannot write metrics: {}", path_, std::strerror(errno));
  }
}

void MetricsWriter::write(const nlohmann::json& row) {
  if (!file_) return;
  // One fwrite of the whole line, then a flush: a line is either fully in the file or, if
  // the process dies inside the write, cut short at the end where truncate_metrics drops it.
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0)
    fail("{}: cannot write metrics: {}", path_, std::strerror(errno));
}

void truncate_metrics(const std::string& path, int64_t keep_through_step) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open metrics file: {}", path, std::strerror(errno));

  std::string kept;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const nlohmann::json row = parse_json_or_discarded(line);
    if (!row.is_object()) continue;
    const auto it = row.find("step");
    if (it != row.end() && it->is_number() && it->get<double>() > static_cast<double>(keep_through_step))
      continue;
    kept += line;
    kept += '\n';
  }
  if (in.bad()) fail("{}: cannot read metrics file: {}", path, std::strerror(errno));
  in.close();

  // The temporary file lives beside the target so rename() stays within one file system and
  // is atomic: a crash leaves either the old file or the new one, never a mix.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create temporary file: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < kept.size()) {
    const ssize_t n = ::write(fd, kept.data() + done, kept.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("{}: cannot write temporary file: {}", tmp, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_err = errno;
  if (::close(fd) != 0 || !synced) {
    const int err = synced ? errno : sync_err;
    ::unlink(tmp.c_str());
    fail("{}: cannot sync temporary file: {}", tmp, std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("{}: cannot replace metrics file: {}", path, std::strerror(err));
  }
  // Sync the directory too, so the rename itself survives a power cut.
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir.push_back('.');  // not dir = ".": GCC 12 warns falsely (-Wrestrict)
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace r1
