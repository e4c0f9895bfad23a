// r1: the command-line program. Thin: parses options and calls the library.
#include <cstdio>

#include "core/error.h"

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  try {
    return 0;
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "r1: error: %s\n", e.what());
    return 1;
  }
}
