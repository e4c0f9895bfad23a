// Time-bounded fuzzing of answer extraction and math verification: real MATH-500 answers (and
// built-in seeds when the data is absent) mutated by deleting, duplicating and splicing ranges,
// inserting LaTeX syntax and flipping bytes. Every call must return (no crash, no hang) and an
// unparseable gold must never be "correct". R1_VERIFY_FUZZ_SECONDS sets the time (default 2).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"
#include "verify/extract.h"
#include "verify/math.h"

namespace {

const std::vector<std::string> kTokens = {"\\frac",
                                          "\\dfrac",
                                          "\\sqrt",
                                          "\\sqrt[3]",
                                          "{",
                                          "}",
                                          "(",
                                          ")",
                                          "[",
                                          "]",
                                          "\\{",
                                          "\\}",
                                          "^",
                                          "_",
                                          "!",
                                          "\\pi",
                                          "\\cdot",
                                          "\\times",
                                          "\\pm",
                                          ",",
                                          "\\left(",
                                          "\\right)",
                                          "\\text{ cm}",
                                          "\\%",
                                          "^\\circ",
                                          "=",
                                          "<",
                                          "\\le",
                                          "\\cup",
                                          "\\infty",
                                          "\\boxed{",
                                          "<answer>",
                                          "</answer>",
                                          "####",
                                          "$",
                                          "\\\\",
                                          "&",
                                          "\\begin{pmatrix}",
                                          "\\end{pmatrix}",
                                          "10^{10^{10}}",
                                          "99999999999999999999999999999999999999",
                                          "!!!!",
                                          "0.",
                                          "1,000",
                                          "x",
                                          "e",
                                          "\\sin",
                                          "\\log_2",
                                          "|",
                                          "-",
                                          "/",
                                          "*",
                                          ".5",
                                          "\\!"};

std::vector<std::string> seeds() {
  std::vector<std::string> out = {"\\frac{1}{2}",
                                  "(0,9]",
                                  "\\{1,2\\}",
                                  "x^2+1",
                                  "2\\sqrt{3}",
                                  "52_8",
                                  "\\pm 1",
                                  "0.6666666667",
                                  "1\\;000, 000",
                                  "{5 \\choose 2}",
                                  "\\dbinom{9}{4}",
                                  "3 < y \\le 8",
                                  "3\\frac{2}{5}",
                                  "\\gcd(12, 18, 30)",
                                  "\\lfloor \\frac{7}{2} \\rfloor",
                                  "\\max(2, 7)"};
  std::string path = r1::testing::shared_path("data/math500/test.jsonl");
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    out.push_back(nlohmann::json::parse(line).at("answer").get<std::string>());
  }
  return out;
}

std::string mutate(std::string s, std::mt19937_64& rng, const std::vector<std::string>& pool) {
  int n = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < n; ++k) {
    size_t len = s.size();
    switch (rng() % 6) {
      case 0:
        if (len) s.erase(rng() % len, 1 + rng() % 4);
        break;
      case 1: {
        size_t a = len ? rng() % len : 0, b = 1 + rng() % 8;
        s.insert(len ? rng() % len : 0, s.substr(a, b));
        break;
      }
      case 2:
        s.insert(len ? rng() % (len + 1) : 0, kTokens[rng() % kTokens.size()]);
        break;
      case 3:
        if (len) s[rng() % len] = static_cast<char>(rng() % 256);
        break;
      case 4: {
        const std::string& other = pool[rng() % pool.size()];
        if (!other.empty()) s.insert(len ? rng() % (len + 1) : 0, other.substr(rng() % other.size()));
        break;
      }
      default: {
        size_t reps = 1 + rng() % 50;
        std::string tok = kTokens[rng() % kTokens.size()];
        std::string block;
        for (size_t r = 0; r < reps; ++r) block += tok;
        s.insert(len ? rng() % (len + 1) : 0, block);
        break;
      }
    }
  }
  return s;
}

TEST(VerifyFuzz, MutatedAnswersFinish) {
  double seconds = 2;
  if (const char* env = std::getenv("R1_VERIFY_FUZZ_SECONDS")) seconds = std::atof(env);
  auto pool = seeds();
  std::mt19937_64 rng(12345);
  auto t0 = std::chrono::steady_clock::now();
  long iterations = 0;
  double slowest = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
    const std::string& base = pool[rng() % pool.size()];
    std::string gold = mutate(base, rng, pool);
    std::string pred = rng() % 2 ? mutate(base, rng, pool) : base;
    if (std::getenv("R1_VERIFY_FUZZ_TRACE")) {
      std::fprintf(stderr, "CASE %s\nPRED %s\n", gold.c_str(), pred.c_str());
    }
    auto c0 = std::chrono::steady_clock::now();
    std::string reason;
    auto v = r1::verify::verify_math(gold, pred, &reason);
    if (!r1::verify::math_parses(gold)) {
      ASSERT_EQ(v, r1::verify::Verdict::kUnverifiable) << gold;
    }
    // Exact-size heap copies (no terminating NUL), so that ASan catches a read one past the end.
    const std::string text = "<answer>" + gold + "</answer> \\boxed{" + pred;
    const std::vector<char> buf(text.begin(), text.end()), gbuf(gold.begin(), gold.end());
    const std::string_view view(buf.data(), buf.size()), gview(gbuf.data(), gbuf.size());
    r1::verify::ExtractOptions all;
    all.last_number = true;
    auto e = r1::verify::extract_answer(view, all);
    if (e) {
      ASSERT_FALSE(e->empty());
    }
    (void)r1::verify::extract_last_number(gview);
    (void)r1::verify::extract_answer_is(gview);
    (void)r1::verify::extract_gsm8k(gview);
    (void)r1::verify::verify_math(gview, std::string_view(buf.data(), std::min(buf.size(), pred.size())));
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    if (dt > slowest && std::getenv("R1_VERIFY_FUZZ_VERBOSE"))
      std::printf("slow %.3f ms: '%s' vs '%s'\n", dt * 1e3, gold.c_str(), pred.c_str());
    slowest = std::max(slowest, dt);
    ++iterations;
  }
  std::printf("verify fuzz: %ld iterations in %.1f s, slowest call %.3f ms\n", iterations, seconds,
              slowest * 1e3);
  EXPECT_GT(iterations, 0);
}

}  // namespace
