#!/usr/bin/env bash
# Installs the Debian packages r1.cpp needs to build, test and benchmark. Idempotent.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git clang-format
  libopenblas-openmp-dev          # BLAS for matrix products (OpenMP threading, shares our pool)
  nlohmann-json3-dev              # JSON
  libtomlplusplus-dev             # TOML recipes
  libcli11-dev                    # command line
  libfmt-dev                      # formatting
  libpcre2-dev                    # tokenizer regexes (Unicode classes, JIT)
  libicu-dev                      # tokenizer Unicode normalisation (NFC)
  libgmp-dev                      # exact big rationals in the math answer verifier
  libopenmpi-dev openmpi-bin      # data parallelism over processes and machines (mpirun)
  libcpp-httplib-dev              # r1 serve: the HTTP server (and the test client)
  nodejs                          # tests only: the official openai client drives r1 serve (skipped offline)
  iproute2                        # the two-host MPI test (network namespaces)
  libseccomp-dev                  # code sandbox: seccomp filter (no network, no ptrace) where namespaces are refused
  libgtest-dev libgmock-dev       # tests
  python3 python3-torch python3-numpy   # the PyTorch reference the tests compare against
  python3-jinja2                  # the chat-template oracle (tests/tokenizer/render_jinja2.py)
)
missing=()
# npm comes with some Node.js builds (NodeSource's) and conflicts with Debian's npm package there.
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all packages present"
