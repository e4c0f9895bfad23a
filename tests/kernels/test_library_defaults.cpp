// The environment defaults every r1 program gives its libraries before they start
// (kernels/blas.cpp): OPENBLAS_CORETYPE names AVX-512 kernels on an AVX-512 CPU (Debian's
// OpenBLAS 0.3.21 otherwise takes Prescott's SSE3 kernels on recent Xeons: 6x slower products),
// and OMP_WAIT_POLICY is passive. The test starts this test binary again with neither variable
// set and checks, inside that child, what OpenBLAS and the environment say; a user's own setting
// is kept.
#include <cpuid.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/blas.h"

extern char** environ;

namespace {

bool has_avx512() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31));
}

// Runs this binary's LibraryDefaults.Child with the environment minus `drop` plus `add`.
int run_child(const std::vector<std::string>& drop, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  for (char** e = environ; *e; e++) {
    bool keep = true;
    for (const std::string& d : drop) keep &= std::strncmp(*e, (d + "=").c_str(), d.size() + 1) != 0;
    if (keep) env.emplace_back(*e);
  }
  for (const std::string& a : add) env.push_back(a);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe", filter = "--gtest_filter=LibraryDefaults.Child";
  char* argv[] = {self.data(), filter.data(), nullptr};
  const pid_t pid = fork();
  if (pid == 0) {
    execve(argv[0], argv, envp.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

// Only meaningful as the child of the tests below (R1_TEST_DEFAULTS_WANT says what to expect).
TEST(LibraryDefaults, Child) {
  const char* want = std::getenv("R1_TEST_DEFAULTS_WANT");
  if (!want) GTEST_SKIP() << "runs as the child of LibraryDefaults.* only";
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  const std::string core = r1::blas_core_name();
  if (std::string(want) == "defaults") {
    ASSERT_NE(wait, nullptr);
    EXPECT_STREQ(wait, "passive");
    if (has_avx512()) {
      EXPECT_NE(core, "Prescott");
      EXPECT_TRUE(core == "Cooperlake" || core == "SkylakeX") << core;
    }
  } else {  // the user's own settings
    ASSERT_NE(wait, nullptr);
    EXPECT_STREQ(wait, "active");
    EXPECT_EQ(core, "Haswell");
  }
}

TEST(LibraryDefaults, SetBeforeTheLibrariesStart) {
  EXPECT_EQ(run_child({"OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"}, {"R1_TEST_DEFAULTS_WANT=defaults"}), 0);
}

TEST(LibraryDefaults, TheUsersSettingsWin) {
  EXPECT_EQ(run_child({"OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"},
                      {"R1_TEST_DEFAULTS_WANT=user", "OPENBLAS_CORETYPE=Haswell", "OMP_WAIT_POLICY=active"}),
            0);
}
