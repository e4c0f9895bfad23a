#include "kernels/blas.h"

#include <cblas.h>
#include <cpuid.h>

#include <cstdint>
#include <cstdlib>

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

void select_blas_core(int, char**, char**) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice wins
  if (const char* core = avx512_core()) setenv("OPENBLAS_CORETYPE", core, 0);
}

}  // namespace

// Runs before shared-library constructors (preinit_array is honoured for executables only).
__attribute__((section(".preinit_array"),
               used)) static void (*const r1_preinit_blas)(int, char**, char**) = select_blas_core;

const char* blas_core_name() {
  return openblas_get_corename();
}

}  // namespace r1
