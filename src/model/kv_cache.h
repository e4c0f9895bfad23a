// Paged KV cache shared by many sequences (vLLM-style): a fixed pool of blocks of B tokens, each
// block holding K and V of every layer for its B positions. A sequence is a block table plus a
// length. Blocks are reference counted, so fork() shares a prefix (a GRPO prompt prefilled once,
// then sampled G times) and a shared, partially filled last block is copied on the first write.
// Elements are F32 or BF16 (half the bytes per token: twice the sequences in a budget, and half
// what decoding's attention reads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/dtype.h"
#include "model/config.h"

namespace r1 {

// Frees the KV cache's mmap'd pool.
struct KvPoolUnmap {
  size_t bytes = 0;
  void operator()(std::byte* p) const;
};

class KvCache {
 public:
  using SeqId = int32_t;

  // Pool of budget_bytes / bytes_per_block() blocks; fails (r1::Error) if not even one fits.
  // dtype: F32 or BF16 (K and V rounded to nearest, ties to even, when written).
  KvCache(const ModelConfig& config, size_t budget_bytes, int block_size = 16, DType dtype = DType::F32);

  int block_size() const { return B_; }
  int num_layers() const { return L_; }
  int kv_heads() const { return Hkv_; }
  int head_dim() const { return hd_; }
  DType dtype() const { return dtype_; }
  int64_t num_blocks() const { return static_cast<int64_t>(refcount_.size()); }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  size_t bytes_per_token() const { return 2 * static_cast<size_t>(L_) * Hkv_ * hd_ * elem_bytes_; }
  size_t bytes_per_block() const { return bytes_per_token() * B_; }

  // Frees every sequence and restores the fresh cache's block order, keeping the pool's memory
  // (and its pages, already faulted in: a reused pool does not pay the kernel's page zeroing again).
  void reset();
  // Writes every page of the pool once, so that no later write faults (benchmarks measuring the
  // steady state of a reused pool).
  void prefault();

  // A new empty sequence. Ids of freed sequences are reused.
  SeqId create();
  // A new sequence sharing all of seq's blocks (and its length).
  SeqId fork(SeqId seq);
  // Drops seq; blocks whose reference count reaches zero return to the pool.
  void free(SeqId seq);
  // Grows seq by n token slots (the caller then writes their K/V), copying a shared partially
  // filled last block first. Returns false, changing nothing, when the pool lacks the blocks.
  bool append(SeqId seq, int64_t n);
  // Blocks append(seq, n) would take from the pool (including a copy-on-write copy).
  int64_t blocks_needed(SeqId seq, int64_t n) const;

  bool alive(SeqId seq) const;
  int64_t length(SeqId seq) const { return seq_at(seq).length; }
  const std::vector<int32_t>& block_table(SeqId seq) const { return seq_at(seq).blocks; }
  int refcount(int32_t block) const { return refcount_[block]; }

  // K of one (layer, block, kv head) is stored transposed, (hd, B): scores against one query are
  // then a B-wide vector per head-dim element. V is (B, hd). Elem is float for an F32 cache and
  // uint16_t (bf16 bits) for a BF16 one; any other pairing is a programming error.
  template <class Elem>
  Elem* k_tile(int layer, int32_t block, int kv_head) {
    return at<Elem>(layer, block, kv_head, 0);
  }
  template <class Elem>
  Elem* v_tile(int layer, int32_t block, int kv_head) {
    return at<Elem>(layer, block, kv_head, 1);
  }
  template <class Elem>
  const Elem* k_tile(int layer, int32_t block, int kv_head) const {
    return const_cast<KvCache*>(this)->at<Elem>(layer, block, kv_head, 0);
  }
  template <class Elem>
  const Elem* v_tile(int layer, int32_t block, int kv_head) const {
    return const_cast<KvCache*>(this)->at<Elem>(layer, block, kv_head, 1);
  }

 private:
  struct Seq {
    std::vector<int32_t> blocks;
    int64_t length = 0;
    bool alive = false;
  };
  const Seq& seq_at(SeqId seq) const;
  Seq& seq_at(SeqId seq) { return const_cast<Seq&>(std::as_const(*this).seq_at(seq)); }
  template <class Elem>
  Elem* at(int layer, int32_t block, int kv_head, int kind) {
    static_assert(std::is_same_v<Elem, float> || std::is_same_v<Elem, uint16_t>);
    R1_CHECK(sizeof(Elem) == elem_bytes_);
    // block layout: [layer][K|V][kv_head][B*hd]
    const size_t tile = static_cast<size_t>(B_) * hd_;
    return reinterpret_cast<Elem*>(pool_.get()) + static_cast<size_t>(block) * block_elems_ +
           ((static_cast<size_t>(layer) * 2 + kind) * Hkv_ + kv_head) * tile;
  }
  int32_t take_block();
  void drop_block(int32_t block);

  int L_, Hkv_, hd_, B_;
  DType dtype_;
  size_t elem_bytes_;
  size_t block_elems_;
  using Pool = std::unique_ptr<std::byte, KvPoolUnmap>;
  Pool pool_;  // mmap'd, uninitialised: pages are touched only when written
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_;  // free block ids, a stack
  std::vector<Seq> seqs_;
  std::vector<SeqId> free_ids_;
};

}  // namespace r1
