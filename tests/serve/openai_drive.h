// The official `openai` npm client (pinned in tests/serve/package.json, a test-time fixture)
// drives r1 serve on loopback (openai_client.cjs): whole and streamed chat completions,
// reasoning_content apart from content, completions, models, errors. The package is installed
// once into the build directory; where the npm registry cannot be reached (or Node.js is missing)
// the test skips with a message.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "run_r1.h"
#include "serve/serve_process.h"

namespace r1::testing {

namespace fs = std::filesystem;

// The directory holding node_modules/openai, or "" with *why set.
inline std::string openai_package(std::string* why) {
  const fs::path dir = fs::path(R1_TEST_TMP).parent_path() / "npm-openai";
  const fs::path src = fs::path(R1_SOURCE_DIR) / "tests/serve";
  fs::create_directories(dir);
  fs::copy_file(src / "package.json", dir / "package.json", fs::copy_options::overwrite_existing);
  fs::copy_file(src / "openai_client.cjs", dir / "openai_client.cjs", fs::copy_options::overwrite_existing);
  if (fs::exists(dir / "node_modules/openai/package.json")) return dir;
  const auto r = r1::testing::run_program(
      "/usr/bin/env", {"npm", "install", "--no-audit", "--no-fund", "--prefix", dir.string()}, 300);
  if (r.exit_code != 0 || !fs::exists(dir / "node_modules/openai/package.json")) {
    *why = "npm install openai failed (no registry?): " + r.err.substr(0, 300);
    return "";
  }
  return dir;
}

inline void drive_with_openai_client(const std::string& model, bool think, const std::string& prompt) {
  std::string why;
  const std::string dir = openai_package(&why);
  if (dir.empty()) GTEST_SKIP() << why;
  r1::testing::ServeProcess server(model, {"--api-key", "test-key"});
  ASSERT_GT(server.port(), 0);
  const auto r = r1::testing::run_program(
      "/usr/bin/env", {"node", dir + "/openai_client.cjs"}, 120, "/dev/null",
      {"BASE_URL=http://127.0.0.1:" + std::to_string(server.port()) + "/v1", "MODEL=" + model,
       "API_KEY=test-key", std::string("THINK=") + (think ? "1" : "0"), "PROMPT=" + prompt});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  if (think) {
    EXPECT_NE(r.out.find("ok: reasoning_content is the <think> part"), std::string::npos) << r.out;
  }
  EXPECT_NE(r.out.find("ok: a wrong key is a 401"), std::string::npos) << r.out;  // the script ran to its end
  EXPECT_EQ(server.terminate(), 0);
}

}  // namespace r1::testing
