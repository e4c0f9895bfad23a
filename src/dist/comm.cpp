#include "dist/comm.h"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>

#include "core/error.h"

#if R1_HAVE_MPI
#include <mpi.h>
#endif

namespace r1 {

namespace {

// One process: every collective is the identity.
class SingleComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_size() const override { return 1; }
  std::string name() const override { return "single"; }
  void sum(float*, size_t) override {}
  void sum(double*, size_t) override {}
  void sum(int64_t*, size_t) override {}
  void max(double*, size_t) override {}
  std::vector<std::string> all_gather(const std::string& bytes) override { return {bytes}; }
  void broadcast(std::string&, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int code) override {
    std::fflush(nullptr);
    std::_Exit(code);
  }
};

#if R1_HAVE_MPI
// MPI counts are ints: large buffers go in pieces.
constexpr size_t kPiece = size_t{1} << 28;

// Adds the lifetime of the object to a collective-time counter.
class Timed {
 public:
  explicit Timed(double& total) : total_(total), t0_(std::chrono::steady_clock::now()) {}
  ~Timed() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  double& total_;
  std::chrono::steady_clock::time_point t0_;
};

class MpiComm final : public Comm {
 public:
  MpiComm() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }
  std::string name() const override { return "mpi"; }
  void sum(float* x, size_t n) override { reduce(x, n, MPI_FLOAT, MPI_SUM); }
  void sum(double* x, size_t n) override { reduce(x, n, MPI_DOUBLE, MPI_SUM); }
  void sum(int64_t* x, size_t n) override { reduce(x, n, MPI_INT64_T, MPI_SUM); }
  void max(double* x, size_t n) override { reduce(x, n, MPI_DOUBLE, MPI_MAX); }

  std::vector<std::string> all_gather(const std::string& bytes) override {
    const Timed t(seconds_);
    int64_t mine = static_cast<int64_t>(bytes.size());
    std::vector<int64_t> sizes(static_cast<size_t>(size_));
    MPI_Allgather(&mine, 1, MPI_INT64_T, sizes.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
    std::vector<int> counts(sizes.size()), displs(sizes.size());
    int64_t total = 0;
    for (size_t r = 0; r < sizes.size(); r++) {
      if (total + sizes[r] > INT32_MAX)
        fail("mpi: a gather of {} bytes and more exceeds MPI's 2 GiB message limit", total + sizes[r]);
      counts[r] = static_cast<int>(sizes[r]), displs[r] = static_cast<int>(total);
      total += sizes[r];
    }
    std::string all(static_cast<size_t>(total), '\0');
    MPI_Allgatherv(bytes.data(), static_cast<int>(mine), MPI_BYTE, all.data(), counts.data(), displs.data(),
                   MPI_BYTE, MPI_COMM_WORLD);
    std::vector<std::string> out(sizes.size());
    for (size_t r = 0; r < sizes.size(); r++) out[r] = all.substr(size_t(displs[r]), size_t(counts[r]));
    return out;
  }

  void broadcast(std::string& bytes, int root) override {
    const Timed t(seconds_);
    int64_t n = static_cast<int64_t>(bytes.size());
    MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
    bytes.resize(static_cast<size_t>(n));
    for (size_t at = 0; at < bytes.size(); at += kPiece)
      MPI_Bcast(bytes.data() + at, static_cast<int>(std::min(kPiece, bytes.size() - at)), MPI_BYTE, root,
                MPI_COMM_WORLD);
  }
  void barrier() override {
    const Timed t(seconds_);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  template <typename T>
  void reduce(T* x, size_t n, MPI_Datatype type, MPI_Op op) {
    const Timed t(seconds_);
    for (size_t at = 0; at < n; at += kPiece)
      MPI_Allreduce(MPI_IN_PLACE, x + at, static_cast<int>(std::min(kPiece, n - at)), type, op,
                    MPI_COMM_WORLD);
  }
  int rank_ = 0, size_ = 1, local_size_ = 1;
};
#endif

std::unique_ptr<Comm>& world_ptr() {
  static std::unique_ptr<Comm> w = std::make_unique<SingleComm>();
  return w;
}

}  // namespace

Comm& world() {
  return *world_ptr();
}

namespace {
std::FILE* g_error_stream = nullptr;
}  // namespace

std::FILE* error_stream() {
  return g_error_stream != nullptr ? g_error_stream : stderr;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

bool mpi_available() {
  return R1_HAVE_MPI != 0;
}

void init_world(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
#if R1_HAVE_MPI
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  world_ptr() = std::make_unique<MpiComm>();
  Comm& w = world();
  const char* all = std::getenv("R1_LOG_ALL_RANKS");
  if (!w.root() && (all == nullptr || std::string_view(all) != "1")) {
    const int err = ::dup(STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (err >= 0 && null >= 0) {
      std::fflush(stdout), std::fflush(stderr);
      g_error_stream = ::fdopen(err, "w");
      ::dup2(null, STDOUT_FILENO), ::dup2(null, STDERR_FILENO);
    }
    if (null >= 0) ::close(null);
  }
  if (w.size() > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) {
    // This machine's cores shared by its ranks, and never more than the cores the launcher
    // bound this rank to (OpenMPI binds each of 2 ranks to one core by default).
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    omp_set_num_threads(std::max(1, std::min(omp_get_num_procs(), cores / w.local_size())));
  }
#else
  (void)argc, (void)argv;
  fail(
      "this r1 was built without MPI but was started by an MPI launcher; install libopenmpi-dev "
      "(scripts/install-deps.sh) and rebuild");
#endif
}

void finalize_world() {
#if R1_HAVE_MPI
  if (world().name() == "mpi") {
    world().barrier();
    MPI_Finalize();
    world_ptr() = std::make_unique<SingleComm>();
  }
#endif
}

Shard shard_of(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

Shard shard_by_cost(const std::vector<int64_t>& cum, int rank, int size) {
  R1_CHECK(!cum.empty());
  const int64_t n = static_cast<int64_t>(cum.size()) - 1, total = cum.back();
  // Rank r's block starts at the first item whose running total reaches r/size of the whole.
  auto start = [&](int r) -> int64_t {
    if (r <= 0) return 0;
    if (r >= size) return n;
    const int64_t target = (total * r + size - 1) / size;
    return std::lower_bound(cum.begin(), cum.end() - 1, target) - cum.begin();
  };
  return {start(rank), std::max(start(rank), start(rank + 1))};
}

}  // namespace r1
