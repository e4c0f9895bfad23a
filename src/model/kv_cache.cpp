#include "model/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "core/error.h"
#include "model/memory.h"

namespace r1 {

void KvPoolUnmap::operator()(std::byte* p) const {
  if (p) munmap(p, bytes);
}

KvCache::KvCache(const ModelConfig& config, size_t budget_bytes, int block_size, DType dtype)
    : L_(config.num_layers), Hkv_(config.num_kv_heads), hd_(config.head_dim), B_(block_size), dtype_(dtype) {
  if (B_ < 1) fail("kv cache: block size must be at least 1 (got {})", B_);
  if (dtype != DType::F32 && dtype != DType::BF16)
    fail("kv cache: element type {} is not supported (F32 or BF16)", dtype_name(dtype));
  elem_bytes_ = dtype == DType::F32 ? sizeof(float) : sizeof(uint16_t);
  block_elems_ = bytes_per_block() / elem_bytes_;
  const size_t n = std::min<size_t>(budget_bytes / bytes_per_block(), std::numeric_limits<int32_t>::max());
  if (n == 0)
    fail("kv cache: a budget of {} bytes is less than one block ({} tokens x {} bytes per token = {} bytes)",
         budget_bytes, B_, bytes_per_token(), bytes_per_block());
  MemoryEstimate pool;
  pool.kv_pool = kv_pool_bytes(config, budget_bytes, block_size, dtype);
  check_fits_in_memory(pool, fmt::format("kv cache: a budget of {} bytes", budget_bytes));
  // Anonymous memory, asked for in transparent huge pages: decoding reads 2 x layers x heads
  // small tiles per block from blocks scattered over the pool, and with 4 KiB pages nearly every
  // tile is a TLB miss. Pages are still committed only when first written.
  const size_t bytes = n * bytes_per_block();
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("kv cache: cannot allocate {} bytes for {} blocks", bytes, n);
  madvise(mem, bytes, MADV_HUGEPAGE);  // advice only: without THP the pool still works
  pool_ = Pool(static_cast<std::byte*>(mem), KvPoolUnmap{bytes});
  refcount_.resize(n);
  reset();
}

void KvCache::reset() {
  const size_t n = refcount_.size();
  std::fill(refcount_.begin(), refcount_.end(), 0);
  free_.resize(n);
  // Stack with block 0 on top, so a fresh cache hands out blocks in increasing order.
  for (size_t i = 0; i < n; i++) free_[i] = static_cast<int32_t>(n - 1 - i);
  seqs_.clear();
  free_ids_.clear();
}

void KvCache::prefault() {
  std::memset(pool_.get(), 0, pool_.get_deleter().bytes);
}

const KvCache::Seq& KvCache::seq_at(SeqId seq) const {
  R1_CHECK(alive(seq));
  return seqs_[seq];
}

bool KvCache::alive(SeqId seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() && seqs_[seq].alive;
}

int32_t KvCache::take_block() {
  R1_CHECK(!free_.empty());
  const int32_t b = free_.back();
  free_.pop_back();
  refcount_[b] = 1;
  return b;
}

void KvCache::drop_block(int32_t block) {
  R1_CHECK(refcount_[block] > 0);
  if (--refcount_[block] == 0) free_.push_back(block);
}

KvCache::SeqId KvCache::create() {
  SeqId id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<SeqId>(seqs_.size());
    seqs_.emplace_back();
  }
  seqs_[id] = Seq{{}, 0, true};
  return id;
}

KvCache::SeqId KvCache::fork(SeqId seq) {
  seq_at(seq);  // checks the handle before create() may reallocate seqs_
  const SeqId child = create();
  seqs_[child].blocks = seqs_[seq].blocks;
  seqs_[child].length = seqs_[seq].length;
  for (int32_t b : seqs_[child].blocks) refcount_[b]++;
  return child;
}

void KvCache::free(SeqId seq) {
  Seq& s = seq_at(seq);
  for (int32_t b : s.blocks) drop_block(b);
  s = Seq{};
  free_ids_.push_back(seq);
}

int64_t KvCache::blocks_needed(SeqId seq, int64_t n) const {
  const Seq& s = seq_at(seq);
  R1_CHECK(n >= 0);
  const int64_t fresh = (s.length + n + B_ - 1) / B_ - static_cast<int64_t>(s.blocks.size());
  const bool cow = n > 0 && s.length % B_ != 0 && refcount_[s.blocks.back()] > 1;
  return fresh + (cow ? 1 : 0);
}

bool KvCache::append(SeqId seq, int64_t n) {
  if (blocks_needed(seq, n) > free_blocks()) return false;
  Seq& s = seq_at(seq);
  if (n > 0 && s.length % B_ != 0 && refcount_[s.blocks.back()] > 1) {
    // The last block is shared and will be written: give this sequence its own copy.
    const int32_t old = s.blocks.back(), copy = take_block();
    const size_t block_bytes = bytes_per_block();
    std::memcpy(pool_.get() + copy * block_bytes, pool_.get() + old * block_bytes, block_bytes);
    drop_block(old);
    s.blocks.back() = copy;
  }
  while (static_cast<int64_t>(s.blocks.size()) * B_ < s.length + n) s.blocks.push_back(take_block());
  s.length += n;
  return true;
}

}  // namespace r1
