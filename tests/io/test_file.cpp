#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.h"
#include "io/file.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::expect_error;
using r1::testing::scratch_dir;

size_t count_entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(File, WriteThenReadAndMapIdenticalBytes) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/data.bin";
  std::string contents;
  for (int i = 0; i < 100000; ++i) contents.push_back(static_cast<char>(i * 7 % 256));  // includes NULs
  r1::write_file_atomic(path, contents);
  EXPECT_EQ(r1::read_file(path), contents);
  const r1::MappedFile m(path);
  ASSERT_EQ(m.size(), contents.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.data()), m.size()), contents);
  EXPECT_EQ(m.path(), path);
  EXPECT_EQ(count_entries(dir), 1u);  // no temporary left behind
}

TEST(File, EmptyFileIsValid) {
  const std::string path = scratch_dir() + "/empty";
  r1::write_file_atomic(path, std::string_view{});
  const r1::MappedFile m(path);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_NE(m.data(), nullptr);
  EXPECT_EQ(r1::read_file(path), "");
}

TEST(File, MappedFileMovesKeepTheMapping) {
  const std::string dir = scratch_dir();
  r1::write_file_atomic(dir + "/a", "hello");
  r1::write_file_atomic(dir + "/b", "world!");
  r1::MappedFile a(dir + "/a");
  const uint8_t* p = a.data();
  r1::MappedFile moved(std::move(a));
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(moved.path(), dir + "/a");
  r1::MappedFile b(dir + "/b");
  b = std::move(moved);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), b.size()), "hello");
}

TEST(File, MissingFileErrorNamesPath) {
  const std::string path = scratch_dir() + "/x.gguf";
  expect_error([&] { r1::MappedFile m(path); }, {path, "cannot open", "No such file or directory"});
  expect_error([&] { r1::read_file(path); }, {path, "No such file or directory"});
}

TEST(File, DirectoryIsNotAFile) {
  const std::string dir = scratch_dir();
  expect_error([&] { r1::MappedFile m(dir); }, {dir, "is a directory"});
  expect_error([&] { r1::read_file(dir); }, {dir, "is a directory"});
}

TEST(File, WriteFileAtomicReplacesExistingFile) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/config.json";
  r1::write_file_atomic(path, "old contents that are longer");
  r1::write_file_atomic(path, [](std::FILE* f) { std::fputs("new", f); });
  EXPECT_EQ(r1::read_file(path), "new");
  EXPECT_EQ(count_entries(dir), 1u);
}

TEST(File, WriteFileAtomicKeepsOldFileWhenWriterThrows) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/ckpt.bin";
  r1::write_file_atomic(path, "previous");
  expect_error(
      [&] {
        r1::write_file_atomic(path, [](std::FILE* f) {
          std::fputs("partial data", f);
          throw std::runtime_error("disk on fire");
        });
      },
      {path, "disk on fire"});
  EXPECT_EQ(r1::read_file(path), "previous");
  EXPECT_EQ(count_entries(dir), 1u);  // the temporary was removed

  // An r1::Error from the writer that already names the path is passed on unchanged.
  try {
    r1::write_file_atomic(path, [&](std::FILE*) { r1::fail("{}: tensor 'w' has no data", path); });
    ADD_FAILURE() << "no error";
  } catch (const r1::Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor 'w' has no data");
  }
  // A non-standard exception is still reported as an r1::Error naming the path.
  expect_error([&] { r1::write_file_atomic(path, [](std::FILE*) { throw 42; }); }, {path});
  EXPECT_EQ(r1::read_file(path), "previous");
  EXPECT_EQ(count_entries(dir), 1u);
}

TEST(File, WriteFileAtomicReportsWriteErrors) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/big.bin";
  r1::write_file_atomic(path, "previous");
  // Limit the file size so writes fail with EFBIG (SIGXFSZ ignored), then restore.
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  auto* old_handler = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string big(1 << 20, 'x');
  try {
    r1::write_file_atomic(path, big);
    ADD_FAILURE() << "no error";
  } catch (const r1::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  // A writer that ignores fwrite's result is caught by the ferror/fflush checks.
  try {
    r1::write_file_atomic(path, [&](std::FILE* f) {
      for (int i = 0; i < 4; ++i) std::fwrite(big.data(), 1, big.size(), f);
    });
    ADD_FAILURE() << "no error";
  } catch (const r1::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_EQ(r1::read_file(path), "previous");
  EXPECT_EQ(count_entries(dir), 1u);
}

TEST(File, WriteFileAtomicIntoMissingDirectoryFails) {
  const std::string path = scratch_dir() + "/no/such/dir/out.json";
  expect_error([&] { r1::write_file_atomic(path, "x"); }, {path, "No such file or directory"});
}

TEST(File, MakeDirsCreatesParents) {
  const std::string dir = scratch_dir();
  const std::string deep = dir + "/a/b//c/";
  r1::make_dirs(deep);
  EXPECT_TRUE(fs::is_directory(dir + "/a/b/c"));
  r1::make_dirs(deep);  // existing is fine
  r1::make_dirs(dir + "/a");
  r1::write_file_atomic(dir + "/a/b/c/f.txt", "x");
  EXPECT_EQ(r1::read_file(dir + "/a/b/c/f.txt"), "x");
}

TEST(File, MakeDirsFailsOnFileInTheWay) {
  const std::string dir = scratch_dir();
  r1::write_file_atomic(dir + "/file", "x");
  const std::string path = dir + "/file/sub";
  expect_error([&] { r1::make_dirs(path); }, {path, "not a directory"});
  expect_error([&] { r1::make_dirs(dir + "/file"); }, {dir + "/file", "not a directory"});
}
