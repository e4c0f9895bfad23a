// BLAS set-up. OpenBLAS 0.3.21 (Debian 12) does not recognise recent AVX-512 CPUs (Zen 4 and
// later) and falls back to its Haswell (AVX2) kernels at about half the speed. It reads its core
// choice from OPENBLAS_CORETYPE once, in its load-time constructor, so r1 sets that variable from
// an ELF preinit function (which runs before any shared library's initialiser) when the CPU and
// OS support AVX-512 and the user has not chosen a core. Any executable that calls
// blas_core_name() links this in.
#pragma once

namespace r1 {

// The kernel family OpenBLAS runs with ("Cooperlake", "SkylakeX", "Haswell", ...).
const char* blas_core_name();

}  // namespace r1
