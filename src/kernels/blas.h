// BLAS set-up. OpenBLAS 0.3.21 (Debian 12) does not recognise recent AVX-512 CPUs (Zen 4 and
// later) and falls back to its Haswell (AVX2) kernels at about half the speed. It reads its core
// choice from OPENBLAS_CORETYPE once, in its load-time constructor, so r1 sets that variable from
// an ELF preinit function (which runs before any shared library's initialiser) when the CPU and
// OS support AVX-512 and the user has not chosen a core. Any executable that calls
// blas_core_name() links this in.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace r1 {

// The kernel family OpenBLAS runs with ("Cooperlake", "SkylakeX", "Haswell", ...).
const char* blas_core_name();

// bf16 matrix products: bf16 inputs, exact fp32 products, fp32 sums and output (AVX-512 BF16
// VDPBF16PS). Debian's OpenBLAS 0.3.21 is built without its bfloat16 routines (no sbgemm), so
// r1 has its own kernel. bf16 values are the top 16 bits of an IEEE float32 (uint16_t).
//
// The weight matrix (out, in) is packed (pack_bf16_weights) into panels of 64 output columns,
// each panel k-pair-major ([in/2][64][2]), so the kernel streams one panel contiguously and
// multiplies 2 k-values per instruction. Activations are plain row-major bf16 with a row stride of
// bf16_ld(in) (in rounded up to even; the pad element must be 0, as f32_to_bf16_rows writes it).

// Row stride of bf16 activations with `in` columns.
inline int64_t bf16_ld(int64_t in) {
  return in + (in & 1);
}
// Elements (uint16_t) of a packed (out, in) weight matrix.
int64_t bf16_packed_size(int64_t out, int64_t in);
// dst (bf16_packed_size) = w (out, in) fp32, rounded to nearest even (exactly r1::f32_to_bf16,
// io/dtype.h, subnormals included) and packed. Parallel over panels; with AVX-512 (F and BW) each
// thread converts tiles of 16 rows x 32 k-values in registers and transposes them into the panel.
// A 64-byte aligned dst is written with non-temporal stores.
void pack_bf16_weights(const float* w, int64_t out, int64_t in, uint16_t* dst);
// Several matrices at once (a model's), in one parallel region: the same result as one call each,
// without a barrier per matrix (bench/bench_pack: a Qwen2.5-0.5B model's 494M parameters).
struct Bf16PackJob {
  const float* w;
  int64_t out, in;
  uint16_t* dst;
};
void pack_bf16_weights(std::span<const Bf16PackJob> jobs);
// The same result without AVX-512 (what pack_bf16_weights runs on other CPUs; for tests).
void pack_bf16_weights_portable(const float* w, int64_t out, int64_t in, uint16_t* dst);
// The same result element by element, in the packed layout's order (strided reads of w): the
// routine r1 packed with before, several times slower; the tests' reference and bench_pack's baseline.
void pack_bf16_weights_reference(const float* w, int64_t out, int64_t in, uint16_t* dst);
// dst (T, bf16_ld(in)) = x (T, in) fp32 rounded to nearest even, the pad column zeroed.
void f32_to_bf16_rows(const float* x, int64_t T, int64_t in, uint16_t* dst);
// y (T, out) = x (T, in) . w (out, in)^T + beta * y; x as f32_to_bf16_rows wrote it, w packed.
// Parallel over 64-column panels. Needs AVX-512 BF16 for speed (a scalar loop otherwise).
void linear_forward_bf16(float* y, const uint16_t* x, const uint16_t* wpacked, int64_t T, int64_t in,
                         int64_t out, float beta = 0.f);
// Whether this CPU runs linear_forward_bf16 with AVX-512 BF16 (else the slow scalar loop).
bool bf16_kernels_available();

// ---- bf16 backward of a linear layer ----
// The forward product above serves both gradients (ops::linear_backward's, kernels/ops.h): each
// is a product whose right-hand operand is stored k-major, packed by pack_bf16_kmajor.
//
// dst (bf16_packed_size(N, K)) = the packed layout of the (N, K) matrix src^T, where src is (K, N)
// with row stride ld >= N: bit for bit what pack_bf16_weights(src^T, N, K) writes (rounding
// included), so linear_forward_bf16 consumes it with in = K, out = N. For a weight w (out, in),
// pack_bf16_kmajor(w, out, in, in) is w^T packed (dx = dy . w); for activations x (T, in),
// pack_bf16_kmajor(x, T, in, in) is x^T packed (dw = dy^T . x). Parallel over panels and blocks
// of 128 k-pairs; with AVX-512 (F and BW) each k-pair is two k-rows' 64 contiguous values,
// rounded and interleaved in registers. Plain stores (the copy is usually read again soon).
void pack_bf16_kmajor(const float* src, int64_t K, int64_t N, int64_t ld, uint16_t* dst);
// The same result without AVX-512 (what pack_bf16_kmajor runs on other CPUs; for tests).
void pack_bf16_kmajor_portable(const float* src, int64_t K, int64_t N, int64_t ld, uint16_t* dst);
// dst (n, bf16_ld(T)) = bf16(x^T), x (T, n) fp32 with row stride ldx >= n, the pad column (odd T)
// zeroed: the left operand of linear_forward_bf16 with in = T. Rounds exactly as f32_to_bf16
// does on this CPU (so dst's rows are f32_to_bf16_rows of x^T). Parallel over blocks of 64 rows
// of x; with AVX-512 BF16, tiles of 32 x 16 transposed in registers.
void f32_to_bf16_transposed(const float* x, int64_t T, int64_t n, int64_t ldx, uint16_t* dst);
// Buffers linear_backward_bf16 converts into, kept by the caller across calls: they grow to the
// largest shape seen and are then reused, so steady-state steps allocate nothing. One per thread
// of callers (not shared between concurrent calls).
struct Bf16Scratch {
  std::vector<uint16_t> buf[3];        // dy rows (for dx); dy^T rows and x^T packed (for dw)
  uint16_t* get(int slot, int64_t n);  // buf[slot] with at least n elements
};
// ops::linear_backward in bf16 (bf16 inputs rounded to nearest even: dy as f32_to_bf16, x and w as
// the packing, which differ only on subnormals, and those VDPBF16PS reads as zero; exact products,
// fp32 sums and outputs): dx (T, in) = dy (T, out) . w + dx_beta * dx (dx not read when dx_beta is
// 0); dw (out, in) += dy^T . x, dw fp32. Either output may be null. w enters only as wT_packed =
// pack_bf16_kmajor(w, out, in, in), which the caller keeps per weight version (as the forward keeps
// pack_bf16_weights(w)); it may be null when dx is. Each call converts dy (f32_to_bf16_rows for dx;
// f32_to_bf16_transposed for dw) and packs x^T (pack_bf16_kmajor) into scratch, then runs
// linear_forward_bf16 (parallel, AVX-512 BF16 for speed): dx with rows T, k over out; dw with rows
// out, k over T, beta 1. Its speed is the forward kernel's (conversions add 3-5% at T = 2048), so
// its gain over fp32 follows the CPU's VDPBF16PS rate: 1.77x sgemm for the forward on Zen 5, but
// 0.5x on Emerald Rapids, where VDPBF16PS issues at a quarter of VFMADD231PS's rate
// (bench/bench_bf16_grad, bench/RESULTS.md).
void linear_backward_bf16(float* dx, float* dw, const float* dy, const float* x, const uint16_t* wT_packed,
                          int64_t T, int64_t in, int64_t out, float dx_beta, Bf16Scratch& scratch);

// dst[i] = bf16(src[i]), round to nearest, ties to even (NaN stays NaN; VCVTNEPS2BF16, which
// also flushes fp32 subnormals to zero, where available). Large conversions use all threads.
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);

}  // namespace r1
