// The stories260K fixture (a real pretrained tiny Llama in ../shared) and its golden greedy ids.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace r1::testing {

inline const std::string kStoriesDir = r1::testing::shared_path("models/stories260K");
inline const std::string kStoriesGguf = kStoriesDir + "/stories260K.gguf";

// golden_greedy.json: greedy decoding of prompt_ids gives greedy_ids.
struct StoriesGolden {
  std::vector<int32_t> prompt, ids;
};

inline StoriesGolden stories_golden() {
  std::ifstream f(kStoriesDir + "/golden_greedy.json");
  const auto g = nlohmann::json::parse(f);
  return {g["prompt_ids"].get<std::vector<int32_t>>(), g["greedy_ids"].get<std::vector<int32_t>>()};
}

}  // namespace r1::testing
