#include "kernels/blas.h"

#include <cblas.h>
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/dtype.h"

namespace r1 {

namespace {

// The AVX-512 core OpenBLAS should use on this CPU, or null to leave its own detection alone.
const char* avx512_core() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return nullptr;  // OSXSAVE
  uint32_t xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 0xe6) != 0xe6) return nullptr;  // the OS saves SSE, AVX, opmask and ZMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return nullptr;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  if (!(f && dq && bw && vl)) return nullptr;
  bool bf16 = false;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) bf16 = a & (1u << 5);
  return bf16 ? "Cooperlake" : "SkylakeX";
}

// Environment defaults for the libraries, set before they read it; a user's setting wins.
//  - OPENBLAS_CORETYPE: the AVX-512 kernels Debian's OpenBLAS does not pick by itself (0.3.21
//    takes Prescott's SSE3 kernels on Emerald Rapids: 48 GFLOP/s against 303 with Cooperlake's on
//    this 2-core VM, and Haswell's on Zen 4/5).
//  - OMP_WAIT_POLICY=passive: threads waiting at a barrier sleep instead of spinning. On a
//    shared machine a spinning thread burns the time slice its descheduled partner needs, and
//    every small parallel region then costs a whole slice: decoding stories260K at batch 64 on
//    this 2-core machine under load took 13.3 s with libgomp's default and 0.69 s with passive
//    waiting (0.34 s on one thread).
// The libraries read their environment in their constructors, which run before main(). A
// preinit function runs before them but cannot add variables: glibc 2.36 has not set `environ`
// yet at that point, and its own initialisation then resets it to the original block, dropping
// what setenv() added. So when a default is missing, the program executes itself again
// (/proc/self/exe, same arguments) with the defaults added to its environment; the second start
// finds them set and goes on. If the exec fails, the program runs on without them.
void set_library_defaults(int, char** argv, char** envp) {
  std::vector<std::string> add;
  auto missing = [envp](const char* name) {
    const size_t n = std::strlen(name);
    for (char** e = envp; e && *e; e++)
      if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return false;
    return true;
  };
  if (missing("OPENBLAS_CORETYPE"))
    if (const char* core = avx512_core()) add.push_back(std::string("OPENBLAS_CORETYPE=") + core);
  if (missing("OMP_WAIT_POLICY")) add.push_back("OMP_WAIT_POLICY=passive");
  if (add.empty()) return;  // the second start: everything is set
  std::vector<char*> env;
  for (char** e = envp; e && *e; e++) env.push_back(*e);
  for (std::string& a : add) env.push_back(a.data());
  env.push_back(nullptr);
  execve("/proc/self/exe", argv, env.data());  // returns only on failure: run on without them
}

}  // namespace

// Runs before shared-library constructors (preinit_array is honoured for executables only).
__attribute__((section(".preinit_array"),
               used)) static void (*const r1_preinit_env)(int, char**, char**) = set_library_defaults;

const char* blas_core_name() {
  return openblas_get_corename();
}

namespace {

#define R1_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

constexpr int64_t kPanel = 64;  // output columns per packed panel (4 zmm of 16 fp32)
constexpr int64_t kMR = 6;      // rows per micro-tile: 6 x 4 accumulators
constexpr int64_t kKc = 128;    // k-pairs per cache block: a 32 KiB slice of a panel stays in L1
constexpr int64_t kMc = 96;     // rows per chunk (16 micro-tiles): its x rows stay in L2

const bool g_avx512bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
const bool g_bf16_hw =
    g_avx512bw && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");

R1_BF16_TARGET void f32_to_bf16_avx512(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i, (__m512i)v);
  }
  for (; i < n; i += 16) {
    const int64_t r = std::min<int64_t>(16, n - i);
    const __mmask16 k = static_cast<__mmask16>((1u << r) - 1);
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
    _mm256_mask_storeu_epi16(dst + i, k, (__m256i)v);
  }
}

void f32_to_bf16_serial(const float* src, uint16_t* dst, int64_t n) {
  if (g_bf16_hw) return f32_to_bf16_avx512(src, dst, n);
  for (int64_t i = 0; i < n; i++) dst[i] = r1::f32_to_bf16(src[i]);
}

// acc (MR rows x NR*16 columns) += x rows . panel slice over kp k-pairs, then C = acc (+ beta C).
// x: MR rows of stride ldx (bf16, at the slice's first k); w: the slice, (kp, NR*16, 2).
// pf, pf_lines: cache lines (64 bytes) of weights to prefetch into L2 while the tile runs, spread
// over its k-pairs (the next slice, which the decoding regime otherwise waits for from memory).
template <int MR, int NR>
R1_BF16_TARGET void micro_tile(const uint16_t* x, int64_t ldx, const uint16_t* w, int64_t kp, float* y,
                               int64_t ldy, int64_t ncols, bool load_c, float beta, const char* pf,
                               int64_t pf_lines) {
  __m512 acc[MR][NR];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NR; j++) acc[r][j] = _mm512_setzero_ps();
  const int64_t pf_per = kp > 0 ? (pf_lines + kp - 1) / kp : 0;
  for (int64_t p = 0; p < kp; p++) {
    for (int64_t i = 0; i < pf_per; i++)
      if (p * pf_per + i < pf_lines) _mm_prefetch(pf + (p * pf_per + i) * 64, _MM_HINT_T1);
    __m512bh wv[NR];
    for (int j = 0; j < NR; j++) wv[j] = (__m512bh)_mm512_loadu_si512(w + p * NR * 32 + j * 32);
    for (int r = 0; r < MR; r++) {
      int32_t pair;
      std::memcpy(&pair, x + r * ldx + 2 * p, sizeof(pair));
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
      for (int j = 0; j < NR; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], wv[j], xv);
    }
  }
  for (int j = 0; j < NR; j++) {
    const int64_t left = ncols - j * 16;
    const __mmask16 k = left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
    for (int r = 0; r < MR; r++) {
      float* dst = y + r * ldy + j * 16;
      __m512 v = acc[r][j];
      if (load_c) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, dst), _mm512_set1_ps(beta), v);
      _mm512_mask_storeu_ps(dst, k, v);
    }
  }
}

using TileFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, float*, int64_t, int64_t, bool,
                        float, const char*, int64_t);
template <int MR>
constexpr TileFn tile_for(int nr) {
  return nr == 1   ? micro_tile<MR, 1>
         : nr == 2 ? micro_tile<MR, 2>
         : nr == 3 ? micro_tile<MR, 3>
                   : micro_tile<MR, 4>;
}
TileFn tile_fn(int64_t mr, int64_t nr) {
  switch (mr) {
    case 1:
      return tile_for<1>(int(nr));
    case 2:
      return tile_for<2>(int(nr));
    case 3:
      return tile_for<3>(int(nr));
    case 4:
      return tile_for<4>(int(nr));
    case 5:
      return tile_for<5>(int(nr));
    default:
      return tile_for<6>(int(nr));
  }
}

// Packing (pack_bf16_weights): panel q of the packed layout, written by one thread.
void pack_panel_scalar(const float* w, int64_t out, int64_t in, int64_t q, uint16_t* dst) {
  const int64_t kp = bf16_ld(in) / 2, c0 = q * kPanel, width = std::min(kPanel, (out - c0 + 15) / 16 * 16);
  uint16_t* pd = dst + c0 * 2 * kp;  // every earlier panel is full
  for (int64_t c = 0; c < width; c++) {
    const int64_t col = c0 + c;
    for (int64_t k = 0; k < 2 * kp; k++)
      pd[((k / 2) * width + c) * 2 + (k & 1)] =
          col < out && k < in ? r1::f32_to_bf16(w[col * in + k]) : uint16_t(0);
  }
}

#define R1_PACK_TARGET __attribute__((target("avx512f,avx512bw")))
// All-lanes masks for the maskz forms: GCC 12 warns on the unmasked ones' undefined source.
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

// r1::f32_to_bf16 on 16 lanes, bit for bit (VCVTNEPS2BF16 would flush subnormals to zero): the
// bf16 is the top half of each lane.
R1_PACK_TARGET inline __m512i round_to_bf16_high(__m512i x) {
  const __m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __m512i lsb = _mm512_and_si512(_mm512_maskz_srli_epi32(kAll16, x, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), lsb);
  // A NaN keeps its top half with the quiet bit forced: (x >> 16) | 0x40.
  return _mm512_mask_or_epi32(rounded, nan, x, _mm512_set1_epi32(0x00400000));
}

// Transposes a 16 x 16 matrix of 32-bit elements held as 16 rows.
R1_PACK_TARGET inline void transpose16(__m512i r[16]) {
  __m512i s[16];
  for (int i = 0; i < 8; i++) {
    s[2 * i] = _mm512_maskz_unpacklo_epi32(kAll16, r[2 * i], r[2 * i + 1]);
    s[2 * i + 1] = _mm512_maskz_unpackhi_epi32(kAll16, r[2 * i], r[2 * i + 1]);
  }
  // u[4g + m], 128-bit lane L: column 4L + m, rows 4g .. 4g + 3.
  __m512i u[16];
  for (int g = 0; g < 4; g++) {
    u[4 * g + 0] = _mm512_maskz_unpacklo_epi64(kAll8, s[4 * g], s[4 * g + 2]);
    u[4 * g + 1] = _mm512_maskz_unpackhi_epi64(kAll8, s[4 * g], s[4 * g + 2]);
    u[4 * g + 2] = _mm512_maskz_unpacklo_epi64(kAll8, s[4 * g + 1], s[4 * g + 3]);
    u[4 * g + 3] = _mm512_maskz_unpackhi_epi64(kAll8, s[4 * g + 1], s[4 * g + 3]);
  }
  for (int m = 0; m < 4; m++) {
    const __m512i a0 = _mm512_maskz_shuffle_i32x4(kAll16, u[m], u[4 + m], 0x88);       // lanes 0, 2 of each
    const __m512i a1 = _mm512_maskz_shuffle_i32x4(kAll16, u[m], u[4 + m], 0xdd);       // lanes 1, 3
    const __m512i b0 = _mm512_maskz_shuffle_i32x4(kAll16, u[8 + m], u[12 + m], 0x88);  // lanes 0, 2
    const __m512i b1 = _mm512_maskz_shuffle_i32x4(kAll16, u[8 + m], u[12 + m], 0xdd);  // lanes 1, 3
    r[m] = _mm512_maskz_shuffle_i32x4(kAll16, a0, b0,
                                      0x88);  // column m: lane 0 of u[m], u[4+m], u[8+m], u[12+m]
    r[8 + m] = _mm512_maskz_shuffle_i32x4(kAll16, a0, b0, 0xdd);   // column 8 + m: their lane 2
    r[4 + m] = _mm512_maskz_shuffle_i32x4(kAll16, a1, b1, 0x88);   // column 4 + m: lane 1
    r[12 + m] = _mm512_maskz_shuffle_i32x4(kAll16, a1, b1, 0xdd);  // column 12 + m: lane 3
  }
}

// Tiles of 16 columns (rows of w) x 16 k-pairs: each row's 32 floats are rounded and narrowed
// into one vector of 16 bf16 pairs, and the 16 x 16 pairs are transposed into the panel's
// pair-major order. A tile reads 16 row streams front to back. When dst is 64-byte aligned (then
// so is every store) the panel is written with non-temporal stores: a copy larger than the caches
// is not read into them before being overwritten, a quarter less memory traffic.
R1_PACK_TARGET void pack_panel_avx512(const float* w, int64_t out, int64_t in, int64_t q, uint16_t* dst) {
  const int64_t kp = bf16_ld(in) / 2, c0 = q * kPanel, width = std::min(kPanel, (out - c0 + 15) / 16 * 16);
  uint16_t* pd = dst + c0 * 2 * kp;  // every earlier panel is full
  // The top halves of 32 lanes (a's 16, then b's 16), in order: 16 bf16 pairs.
  alignas(64) static constexpr uint16_t kHigh[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21,
                                                     23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43,
                                                     45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
  const __m512i high = _mm512_load_si512(kHigh);
  const bool stream = reinterpret_cast<uintptr_t>(dst) % 64 == 0;
  for (int64_t g = 0; g < width; g += 16) {
    const int64_t rows = std::clamp<int64_t>(out - (c0 + g), 0, 16);  // rows of w in this group
    for (int64_t p0 = 0; p0 < kp; p0 += 16) {
      const int64_t k0 = 2 * p0, nk = std::min<int64_t>(32, in - k0), np = std::min<int64_t>(16, kp - p0);
      const __mmask16 m0 = nk >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << nk) - 1);
      const __mmask16 m1 = nk >= 32  ? __mmask16(0xffff)
                           : nk > 16 ? static_cast<__mmask16>((1u << (nk - 16)) - 1)
                                     : __mmask16(0);
      __m512i r[16];
      for (int64_t c = 0; c < 16; c++) {
        if (c >= rows) {
          r[c] = _mm512_setzero_si512();
          continue;
        }
        const float* src = w + (c0 + g + c) * in + k0;
        const __m512i a = round_to_bf16_high(_mm512_castps_si512(_mm512_maskz_loadu_ps(m0, src)));
        const __m512i b = round_to_bf16_high(_mm512_castps_si512(_mm512_maskz_loadu_ps(m1, src + 16)));
        r[c] = _mm512_permutex2var_epi16(a, high, b);
      }
      transpose16(r);
      uint16_t* out_p = pd + (p0 * width + g) * 2;
      if (stream)
        for (int64_t j = 0; j < np; j++)
          _mm512_stream_si512(reinterpret_cast<__m512i*>(out_p + j * width * 2), r[j]);
      else
        for (int64_t j = 0; j < np; j++) _mm512_storeu_si512(out_p + j * width * 2, r[j]);
    }
  }
  if (stream) _mm_sfence();  // the stores are visible before the caller's barrier
}

// pack_bf16_kmajor: k-pairs [p0, p1) of panel q of the packed (N, K) matrix src^T, src being
// (K, N) with row stride ld. A k-pair's 64 packed columns are two k-rows' 64 contiguous values
// interleaved, so the panel is written front to back, one 64-byte vector per 16 columns.
void pack_kmajor_scalar(const float* src, int64_t K, int64_t N, int64_t ld, int64_t q, int64_t p0, int64_t p1,
                        uint16_t* dst) {
  const int64_t kp = bf16_ld(K) / 2, c0 = q * kPanel, width = std::min(kPanel, (N - c0 + 15) / 16 * 16);
  uint16_t* pd = dst + c0 * 2 * kp;  // every earlier panel is full
  for (int64_t p = p0; p < p1; p++)
    for (int64_t c = 0; c < width; c++)
      for (int64_t e = 0; e < 2; e++) {
        const int64_t col = c0 + c, k = 2 * p + e;
        pd[(p * width + c) * 2 + e] = col < N && k < K ? r1::f32_to_bf16(src[k * ld + col]) : uint16_t(0);
      }
}

R1_PACK_TARGET void pack_kmajor_avx512(const float* src, int64_t K, int64_t N, int64_t ld, int64_t q,
                                       int64_t p0, int64_t p1, uint16_t* dst) {
  const int64_t kp = bf16_ld(K) / 2, c0 = q * kPanel, width = std::min(kPanel, (N - c0 + 15) / 16 * 16);
  uint16_t* pd = dst + c0 * 2 * kp;
  __mmask16 cols[4];  // columns of each group of 16 inside the matrix
  for (int64_t g = 0; g < 4; g++) {
    const int64_t n = std::clamp<int64_t>(N - (c0 + 16 * g), 0, 16);
    cols[g] = static_cast<__mmask16>((1u << n) - 1);
  }
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t p = p0; p < p1; p++) {
    const float* a = src + 2 * p * ld + c0;
    const bool has_b = 2 * p + 1 < K;  // an odd K's last pair is (k, 0)
    for (int64_t g = 0; g < width / 16; g++) {
      const __m512i lo = round_to_bf16_high(_mm512_castps_si512(_mm512_maskz_loadu_ps(cols[g], a + 16 * g)));
      const __m512i hi =
          has_b ? round_to_bf16_high(_mm512_castps_si512(_mm512_maskz_loadu_ps(cols[g], a + ld + 16 * g)))
                : zero;
      // Even 16-bit lanes: k's bf16 (the top half of lo's 32-bit lane); odd lanes: k + 1's.
      const __m512i v = _mm512_mask_blend_epi16(0xaaaaaaaau, _mm512_maskz_srli_epi32(kAll16, lo, 16), hi);
      _mm512_storeu_si512(pd + (p * width + 16 * g) * 2, v);
    }
  }
}

// f32_to_bf16_transposed, AVX-512 BF16: rows [t0, t1) of x, every column, as tiles of 32 rows x
// 16 columns: two 16 x 16 transposes, then each column's 32 values narrowed into one vector.
R1_BF16_TARGET void transpose_to_bf16_avx512(const float* x, int64_t T, int64_t n, int64_t ldx, int64_t t0,
                                             int64_t t1, uint16_t* dst) {
  const int64_t ld = bf16_ld(T);
  for (int64_t j0 = 0; j0 < n; j0 += 16) {
    const int64_t nj = std::min<int64_t>(16, n - j0);
    const __mmask16 jm = static_cast<__mmask16>((1u << nj) - 1);
    for (int64_t s = t0; s < t1; s += 32) {
      const int64_t nt = std::min<int64_t>(32, t1 - s);
      __m512i a[16], b[16];
      for (int64_t i = 0; i < 16; i++) {
        a[i] = i < nt ? _mm512_castps_si512(_mm512_maskz_loadu_ps(jm, x + (s + i) * ldx + j0))
                      : _mm512_setzero_si512();
        b[i] = i + 16 < nt ? _mm512_castps_si512(_mm512_maskz_loadu_ps(jm, x + (s + 16 + i) * ldx + j0))
                           : _mm512_setzero_si512();
      }
      transpose16(a);
      if (nt > 16) transpose16(b);
      // The pad element (t = T, odd T) is in the last tile's store and comes from a zero row.
      const int64_t stored = std::min<int64_t>(nt + (s + nt == T ? ld - T : 0), 32);
      const __mmask32 tm = stored >= 32 ? __mmask32(0xffffffffu) : static_cast<__mmask32>((1u << stored) - 1);
      for (int64_t j = 0; j < nj; j++) {
        const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_castsi512_ps(b[j]), _mm512_castsi512_ps(a[j]));
        _mm512_mask_storeu_epi16(dst + (j0 + j) * ld + s, tm, (__m512i)v);
      }
    }
  }
}

void transpose_to_bf16_scalar(const float* x, int64_t T, int64_t n, int64_t ldx, int64_t t0, int64_t t1,
                              uint16_t* dst) {
  const int64_t ld = bf16_ld(T);
  for (int64_t j = 0; j < n; j++) {
    for (int64_t t = t0; t < t1; t++) dst[j * ld + t] = r1::f32_to_bf16(x[t * ldx + j]);
    if (t1 == T && ld > T) dst[j * ld + T] = 0;
  }
}

}  // namespace

int64_t bf16_packed_size(int64_t out, int64_t in) {
  return (out + 15) / 16 * 16 * bf16_ld(in);
}

void pack_bf16_weights_reference(const float* w, int64_t out, int64_t in, uint16_t* dst) {
  const int64_t kp = bf16_ld(in) / 2, panels = (out + kPanel - 1) / kPanel;
#pragma omp parallel for schedule(static) if (out * in > (1 << 18))
  for (int64_t q = 0; q < panels; q++) {
    const int64_t c0 = q * kPanel, width = std::min(kPanel, (out - c0 + 15) / 16 * 16);
    uint16_t* pd = dst + c0 * 2 * kp;  // every earlier panel is full
    for (int64_t p = 0; p < kp; p++)
      for (int64_t c = 0; c < width; c++)
        for (int64_t e = 0; e < 2; e++) {
          const int64_t col = c0 + c, k = 2 * p + e;
          pd[(p * width + c) * 2 + e] = col < out && k < in ? r1::f32_to_bf16(w[col * in + k]) : uint16_t(0);
        }
  }
}

namespace {
// Every panel of every job in one parallel region, handed out dynamically: a thread the machine
// deschedules (another program on a shared core) holds up no barrier between matrices. On this
// 2-core VM under load, one region per matrix with static shares was 3x slower for Qwen2.5-0.5B.
void pack_jobs(std::span<const Bf16PackJob> jobs, bool vector) {
  std::vector<std::pair<size_t, int64_t>> items;  // (job, panel)
  int64_t work = 0;
  for (size_t j = 0; j < jobs.size(); j++) {
    const Bf16PackJob& b = jobs[j];
    for (int64_t q = 0; q < (b.out + kPanel - 1) / kPanel; q++) items.emplace_back(j, q);
    work += b.out * b.in;
  }
  const int64_t n = static_cast<int64_t>(items.size());
#pragma omp parallel for schedule(dynamic) if (work > (1 << 18) && n > 1)
  for (int64_t i = 0; i < n; i++) {
    const Bf16PackJob& b = jobs[items[size_t(i)].first];
    if (vector)
      pack_panel_avx512(b.w, b.out, b.in, items[size_t(i)].second, b.dst);
    else
      pack_panel_scalar(b.w, b.out, b.in, items[size_t(i)].second, b.dst);
  }
}
}  // namespace

void pack_bf16_weights(std::span<const Bf16PackJob> jobs) {
  pack_jobs(jobs, g_avx512bw);
}

void pack_bf16_weights(const float* w, int64_t out, int64_t in, uint16_t* dst) {
  const Bf16PackJob job{w, out, in, dst};
  pack_jobs({&job, 1}, g_avx512bw);
}

void pack_bf16_weights_portable(const float* w, int64_t out, int64_t in, uint16_t* dst) {
  const Bf16PackJob job{w, out, in, dst};
  pack_jobs({&job, 1}, false);
}

namespace {
constexpr int64_t kKmajorPairs = 128;  // k-pairs per pack_bf16_kmajor work item
void pack_kmajor(const float* src, int64_t K, int64_t N, int64_t ld, uint16_t* dst, bool vector) {
  const int64_t kp = bf16_ld(K) / 2, panels = (N + kPanel - 1) / kPanel,
                blocks = (kp + kKmajorPairs - 1) / kKmajorPairs;
#pragma omp parallel for collapse(2) schedule(dynamic) if (K * N > (1 << 18) && panels * blocks > 1)
  for (int64_t q = 0; q < panels; q++)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t p0 = b * kKmajorPairs, p1 = std::min(kp, p0 + kKmajorPairs);
      if (vector)
        pack_kmajor_avx512(src, K, N, ld, q, p0, p1, dst);
      else
        pack_kmajor_scalar(src, K, N, ld, q, p0, p1, dst);
    }
}
}  // namespace

void pack_bf16_kmajor(const float* src, int64_t K, int64_t N, int64_t ld, uint16_t* dst) {
  pack_kmajor(src, K, N, ld, dst, g_avx512bw);
}

void pack_bf16_kmajor_portable(const float* src, int64_t K, int64_t N, int64_t ld, uint16_t* dst) {
  pack_kmajor(src, K, N, ld, dst, false);
}

void f32_to_bf16_transposed(const float* x, int64_t T, int64_t n, int64_t ldx, uint16_t* dst) {
  constexpr int64_t kRows = 64;  // rows of x per work item: 64 row streams, 128-byte pieces of dst rows
  const int64_t items = (T + kRows - 1) / kRows;
#pragma omp parallel for schedule(dynamic) if (T * n > (1 << 17) && items > 1)
  for (int64_t i = 0; i < items; i++) {
    const int64_t t0 = i * kRows, t1 = std::min(T, t0 + kRows);
    if (g_bf16_hw)
      transpose_to_bf16_avx512(x, T, n, ldx, t0, t1, dst);
    else
      transpose_to_bf16_scalar(x, T, n, ldx, t0, t1, dst);
  }
}

void f32_to_bf16_rows(const float* x, int64_t T, int64_t in, uint16_t* dst) {
  const int64_t ld = bf16_ld(in);
  if (ld == in) return f32_to_bf16(x, dst, T * in);
#pragma omp parallel for schedule(static) if (T * in > (1 << 17))
  for (int64_t t = 0; t < T; t++) {
    f32_to_bf16_serial(x + t * in, dst + t * ld, in);
    dst[t * ld + in] = 0;
  }
}

bool bf16_kernels_available() {
  return g_bf16_hw;
}

void linear_forward_bf16(float* y, const uint16_t* x, const uint16_t* wpacked, int64_t T, int64_t in,
                         int64_t out, float beta) {
  if (T == 0 || out == 0) return;
  const int64_t ldx = bf16_ld(in), kp = ldx / 2, panels = (out + kPanel - 1) / kPanel;
  if (!g_bf16_hw) {  // scalar fallback over the packed layout
#pragma omp parallel for schedule(static)
    for (int64_t col = 0; col < out; col++) {
      const int64_t q = col / kPanel, c0 = q * kPanel, width = std::min(kPanel, (out - c0 + 15) / 16 * 16);
      const uint16_t* pw = wpacked + c0 * 2 * kp + (col - c0) * 2;
      for (int64_t t = 0; t < T; t++) {
        float acc = 0;
        for (int64_t k = 0; k < ldx; k++)
          acc += r1::bf16_to_f32(pw[(k / 2) * width * 2 + (k & 1)]) * r1::bf16_to_f32(x[t * ldx + k]);
        y[t * out + col] = acc + (beta != 0.f ? beta * y[t * out + col] : 0.f);
      }
    }
    return;
  }
  // Work items: (panel) x (chunk of up to kMc rows): a panel (in x 64 columns) stays in L2 while
  // the row chunks pass it, and within a chunk each k-block slice of it stays in L1 while the
  // chunk's rows (also L1/L2) pass; each output element sums its k-blocks in order.
  const int64_t chunks = (T + kMc - 1) / kMc;
  const bool par = T * in * out > (1 << 16) && chunks * panels > 1;
  // With one row chunk (decoding) every weight is used once, straight from memory: the tiles of
  // each slice prefetch the next slice (the panel's next k-block, or the next panel's first), a
  // share each. Several chunks reuse each panel from L2, and prefetching would only add traffic.
  const char* wend = reinterpret_cast<const char*>(wpacked + bf16_packed_size(out, in));
  const bool prefetch = chunks == 1;
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t q = 0; q < panels; q++)
    for (int64_t ch = 0; ch < chunks; ch++) {
      const int64_t c0 = q * kPanel, ncols = std::min(kPanel, out - c0), nr = (ncols + 15) / 16;
      const int64_t t0 = ch * kMc, t1 = std::min(T, t0 + kMc);
      const uint16_t* panel = wpacked + c0 * 2 * kp;
      for (int64_t p0 = 0; p0 < kp; p0 += kKc) {
        const int64_t kc = std::min(kKc, kp - p0);
        const bool load_c = p0 > 0 || beta != 0.f;
        const float b = p0 > 0 ? 1.f : beta;
        const char* next = reinterpret_cast<const char*>(panel + (p0 + kc) * nr * 32);  // also the next panel
        const int64_t next_lines =
            prefetch ? std::max<int64_t>(0, std::min<int64_t>(kKc * 2 * kPanel * 2, wend - next)) / 64 : 0;
        const int64_t ntiles = (t1 - t0 + kMR - 1) / kMR;
        for (int64_t r0 = t0, i = 0; r0 < t1; r0 += kMR, i++) {
          const int64_t mr = std::min(kMR, t1 - r0);
          const int64_t l0 = next_lines * i / ntiles, l1 = next_lines * (i + 1) / ntiles;
          tile_fn(mr, nr)(x + r0 * ldx + 2 * p0, ldx, panel + p0 * nr * 32, kc, y + r0 * out + c0, out, ncols,
                          load_c, b, next + l0 * 64, l1 - l0);
        }
      }
    }
}

uint16_t* Bf16Scratch::get(int slot, int64_t n) {
  std::vector<uint16_t>& v = buf[size_t(slot)];
  if (int64_t(v.size()) < n) v.resize(size_t(n));
  return v.data();
}

void linear_backward_bf16(float* dx, float* dw, const float* dy, const float* x, const uint16_t* wT_packed,
                          int64_t T, int64_t in, int64_t out, float dx_beta, Bf16Scratch& scratch) {
  if (T == 0) return;
  if (dx && out == 0)  // an empty sum: the product has no k to run over
    for (int64_t i = 0; i < T * in; i++) dx[i] = dx_beta != 0.f ? dx_beta * dx[i] : 0.f;
  else if (dx) {  // dx (T, in) = dy (T, out) . (w^T)^T: the forward product with in = out, out = in
    uint16_t* dyb = scratch.get(0, T * bf16_ld(out));
    f32_to_bf16_rows(dy, T, out, dyb);
    linear_forward_bf16(dx, dyb, wT_packed, T, out, in, dx_beta);
  }
  if (dw) {  // dw (out, in) += dy^T (out, T) . (x^T)^T: rows dy^T, k over the T rows, columns in
    uint16_t* dyt = scratch.get(1, out * bf16_ld(T));
    uint16_t* xt = scratch.get(2, bf16_packed_size(in, T));
    f32_to_bf16_transposed(dy, T, out, out, dyt);
    pack_bf16_kmajor(x, T, in, in, xt);
    linear_forward_bf16(dw, dyt, xt, out, T, in, 1.f);
  }
}

void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;  // below this one thread is faster than waking the team
  if (n <= 2 * kChunk || omp_get_max_threads() == 1) return f32_to_bf16_serial(src, dst, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t a = c * kChunk;
    f32_to_bf16_serial(src + a, dst + a, std::min(kChunk, n - a));
  }
}

}  // namespace r1
