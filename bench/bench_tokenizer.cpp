// Tokenizer throughput: encode and decode GSM8K's text (train.jsonl, question + answer per
// row, one encode call per row) with a tokenizer (default: the Qwen3 tokenizer.json of
// ../shared). Single thread; each figure is the best of REPS passes, in thread CPU time. Prints one JSON line
// per measurement: encoding with and without the BPE word cache and the hand-written pre-tokenizer (PCRE2
// only when off), decoding whole sequences and token by token.
//
//   bench_tokenizer [TOKENIZER] [GSM8K_JSONL] [REPS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/pretok_fast.h"
#include "tokenizer/tokenizer.h"

namespace {

using r1::bench::now;

// This thread's CPU time: steadier than wall time on a shared machine (the benchmark is
// single-threaded and does no I/O while timed).
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void report(const std::string& what, double secs, size_t bytes, size_t tokens) {
  std::printf(
      "{\"bench\": \"%s\", \"seconds\": %.4f, \"MB_per_s\": %.1f, \"Mtokens_per_s\": %.2f, \"bytes\": %zu, "
      "\"tokens\": %zu}\n",
      what.c_str(), secs, bytes / secs / 1e6, tokens / secs / 1e6, bytes, tokens);
  std::fflush(stdout);
}

template <typename F>
double best_of(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = cpu_now();
    f();
    best = std::min(best, cpu_now() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tok_path =
      argc > 1 ? argv[1] : std::string(R1_SOURCE_DIR) + "/../shared/models/qwen3-tokenizer/tokenizer.json";
  const std::string data_path =
      argc > 2 ? argv[2] : std::string(R1_SOURCE_DIR) + "/../shared/data/gsm8k/train.jsonl";
  const int reps = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;

  std::vector<std::string> docs;
  size_t bytes = 0;
  {
    std::ifstream in(data_path);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      docs.push_back(j.value("question", "") + "\n" + j.value("answer", ""));
      bytes += docs.back().size();
    }
  }
  if (docs.empty()) {
    std::fprintf(stderr, "bench_tokenizer: no rows in %s\n", data_path.c_str());
    return 1;
  }
  const double t0 = now();
  auto tok = r1::load_tokenizer(tok_path);
  std::fprintf(stderr, "loaded %s in %.2f s; %zu docs, %.1f MB\n", tok_path.c_str(), now() - t0, docs.size(),
               bytes / 1e6);
  auto* hf = dynamic_cast<r1::HfTokenizer*>(tok.get());

  std::vector<std::vector<int32_t>> ids(docs.size());
  size_t ntok = 0;
  const auto encode_all = [&] {
    ntok = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      ids[i] = tok->encode(docs[i]);
      ntok += ids[i].size();
    }
  };
  for (const bool fast : {true, false}) {
    for (const bool cache : {true, false}) {
      if (hf == nullptr && (!fast || !cache)) continue;
      r1::tok::set_fast_pretokenizer(fast);
      if (hf) hf->model().set_cache(cache);
      const std::string name =
          std::string("encode") + (fast ? "" : "_pcre2_only") + (cache ? "" : "_no_cache");
      if (cache) {
        const double cold = best_of(1, encode_all);
        report(name + "_cold", cold, bytes, ntok);
      }
      const double warm = best_of(reps, encode_all);
      report(name, warm, bytes, ntok);
    }
  }
  r1::tok::set_fast_pretokenizer(true);
  if (hf) hf->model().set_cache(true);

  size_t out_bytes = 0;
  const double dec = best_of(reps, [&] {
    out_bytes = 0;
    for (const auto& v : ids) out_bytes += tok->decode(v).size();
  });
  report("decode", dec, out_bytes, ntok);
  const double stream = best_of(reps, [&] {
    out_bytes = 0;
    for (const auto& v : ids) {
      r1::StreamDecoder sd(*tok);
      for (const int32_t id : v) out_bytes += sd.put(id).size();
      out_bytes += sd.finish().size();
    }
  });
  report("decode_stream", stream, out_bytes, ntok);
  return 0;
}
