// The communicator: what data parallelism needs from the processes of a job, and nothing more.
// Trainers, the sampler and evaluation talk to world(), never to MPI, so that another transport
// (NCCL for GPUs) is one more implementation of this interface.
//
// Two implementations: one process (the default: nothing to join, every collective is the
// identity) and MPI, joined by init_world() when the process was started by an MPI launcher
// (mpirun, mpiexec, Slurm's srun with PMI/PMIx). A binary built without MPI refuses to run under
// a launcher with a one-line error instead of running N copies of the same job.
//
// Failure: a rank that dies makes the launcher end the job (OpenMPI: "mpirun noticed that process
// rank R ... exited on signal 9"); a rank that fails with an error calls abort(), which ends every
// rank of the job at once. No collective waits forever on a dead peer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace r1 {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks of the job on this machine (for the default thread count).
  virtual int local_size() const = 0;
  virtual std::string name() const = 0;  // "single" or "mpi"
  bool root() const { return rank() == 0; }
  bool distributed() const { return size() > 1; }

  // Element-wise sum over the ranks, in place: every rank ends with the same bits.
  virtual void sum(float* x, size_t n) = 0;
  virtual void sum(double* x, size_t n) = 0;
  virtual void sum(int64_t* x, size_t n) = 0;
  // Element-wise maximum over the ranks, in place.
  virtual void max(double* x, size_t n) = 0;
  // Every rank's bytes, in rank order, on every rank.
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
  // `bytes` of rank `root` on every rank.
  virtual void broadcast(std::string& bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `code` (an error on one rank must not leave the others
  // waiting in a collective).
  [[noreturn]] virtual void abort(int code) = 0;

  // Seconds this process has spent in collectives so far (waiting for slower ranks included).
  double seconds() const { return seconds_; }

  // Conveniences over the above.
  double sum(double x) {
    sum(&x, 1);
    return x;
  }
  int64_t sum(int64_t x) {
    sum(&x, 1);
    return x;
  }
  double max(double x) {
    max(&x, 1);
    return x;
  }

 protected:
  double seconds_ = 0;
};

// The job's communicator: MPI after init_world() under a launcher, one process otherwise.
Comm& world();

// Joins the job when launched by an MPI launcher (reads the launcher's environment: OMPI_*,
// PMI_*, PMIX_*); without one, nothing happens and world() is the one-process communicator.
// Under a launcher with more than one rank on this machine and neither OMP_NUM_THREADS set nor
// threads chosen later, each rank's threads default to this machine's cores / its ranks.
void init_world(int* argc, char*** argv);
// Rank 0 alone writes to stdout and stderr: init_world points the other ranks' stdout and stderr
// at /dev/null (unless R1_LOG_ALL_RANKS=1) and keeps their stderr here, for the one-line error of
// a rank that fails.
std::FILE* error_stream();
// Leaves the job (MPI_Finalize) after a successful run. Not called after an error: abort().
void finalize_world();
// True when this process's environment says an MPI launcher started it.
bool launched_by_mpi();
// Whether this binary can join an MPI job.
bool mpi_available();

// [begin, end) of the items of `n` that rank `rank` of `size` owns: contiguous blocks in rank
// order, the first n % size ranks one larger. Concatenated in rank order they are 0..n-1.
struct Shard {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Shard shard_of(int64_t n, int rank, int size);
// The same for items of unequal cost: `cum` holds n + 1 running totals (cum[0] = 0, cum[i + 1] =
// cum[i] + cost of item i); the ranks' blocks hold about equal cost.
Shard shard_by_cost(const std::vector<int64_t>& cum, int rank, int size);
inline Shard my_shard(int64_t n) {
  return shard_of(n, world().rank(), world().size());
}

}  // namespace r1
