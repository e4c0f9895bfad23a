// Runs tests/tokenizer/render_jinja2.py (Python's jinja2, configured as transformers configures
// it for chat templates) once over a batch of items, for tests that compare r1's Jinja
// interpreter with it byte for byte.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace r1::testing {

struct Jinja2Result {
  bool ok = false;
  std::string text;  // the rendering, or jinja2's error
};

// The renderings of items (see render_jinja2.py for their form), or nullopt with *skip set
// when /usr/bin/python3 or its jinja2 module is missing.
inline std::optional<std::vector<Jinja2Result>> run_jinja2(const nlohmann::ordered_json& items,
                                                           const std::string& dir, std::string* skip) {
  if (!std::filesystem::exists("/usr/bin/python3")) {
    *skip = "/usr/bin/python3 is not installed";
    return std::nullopt;
  }
  const std::string in = dir + "/jinja2_in.json", out = dir + "/jinja2_out.json",
                    err = dir + "/jinja2_err.txt";
  write_file(in, nlohmann::ordered_json{{"items", items}}.dump());
  const std::string cmd = "/usr/bin/python3 " R1_SOURCE_DIR "/tests/tokenizer/render_jinja2.py '" + in +
                          "' '" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    *skip = "python3-jinja2 is not installed (apt-get install python3-jinja2)";
    return std::nullopt;
  }
  std::ifstream ef(err);
  std::stringstream es;
  es << ef.rdbuf();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "render_jinja2.py failed: " << es.str();
  std::ifstream f(out, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const nlohmann::json results = nlohmann::json::parse(ss.str());
  std::vector<Jinja2Result> r;
  for (const auto& x : results) {
    if (x.contains("ok"))
      r.push_back({true, x["ok"].get<std::string>()});
    else
      r.push_back({false, x["error"].get<std::string>()});
  }
  EXPECT_EQ(r.size(), items.size());
  return r;
}

}  // namespace r1::testing
