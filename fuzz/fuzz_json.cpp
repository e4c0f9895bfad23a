// libFuzzer target for the JSON readers (src/io/json.h, src/io/jsonl.h): the bytes go to
// parse_json (nlohmann::json and ordered_json, as a document and as a JSON Lines row),
// parse_json_or_discarded, and JsonlReader over a file holding them. Every failure must be one
// r1::Error line naming where, never a crash, a stack overflow, a leak or undefined behaviour.
// The depth pre-scan is checked against the parsed value: a value it accepts nests exactly as
// deep as the scan says. Inputs are up to libFuzzer's -max_len (4096 by default), so depths far
// beyond kJsonMaxDepth (512) are reached; scripts/fuzz.sh seeds the corpus with deep documents.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"
#include "io/json.h"
#include "io/jsonl.h"

namespace {

// Bounded by kJsonMaxDepth: only called on values parse_json accepted.
int depth_of(const nlohmann::json& j) {
  int d = 0;
  if (j.is_array() || j.is_object()) {
    for (const auto& x : j) d = std::max(d, depth_of(x));
    ++d;
  }
  return d;
}

void check_message(const r1::Error& e, std::string_view where) {
  const std::string_view msg = e.what();
  if (!msg.starts_with(where) || msg.find('\n') != std::string_view::npos) {
    std::fprintf(stderr, "bad message: %s\n", e.what());
    std::abort();
  }
}

const std::string& scratch_path() {
  static const std::string p = "/tmp/fuzz_json." + std::to_string(getpid()) + ".jsonl";
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto deep = r1::json_too_deep(text);
  bool accepted = false;
  try {
    const nlohmann::json j = r1::parse_json(text, "in.json");
    accepted = true;
    // The scan and the parsed value agree on the depth.
    const int d = depth_of(j);
    if (deep || d > r1::kJsonMaxDepth || r1::json_too_deep(text, d) ||
        (d > 0 && !r1::json_too_deep(text, d - 1)))
      std::abort();
    // What was read can be written and read back.
    if (r1::parse_json(j.dump(), "dump.json") != j) std::abort();
  } catch (const r1::Error& e) {
    check_message(e, "in.json: ");
  }
  try {
    const nlohmann::ordered_json j =
        r1::parse_json<nlohmann::ordered_json>(text, "in.jsonl:1", r1::JsonText::Line);
    if (!accepted) std::abort();  // the two flavours agree
    (void)j.dump();
  } catch (const r1::Error& e) {
    if (accepted) std::abort();
    check_message(e, "in.jsonl:1: ");
  }
  const nlohmann::json d = r1::parse_json_or_discarded(text);
  if (accepted && d.is_discarded()) std::abort();
  if (deep && !d.is_discarded()) std::abort();

  // The JSON Lines reader over the same bytes as a file.
  const std::string& path = scratch_path();
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    try {
      r1::JsonlReader reader(path);
      nlohmann::json row;
      while (reader.next(row))
        if (!row.is_object()) std::abort();
    } catch (const r1::Error& e) {
      check_message(e, path + ":");
    }
  }
  return 0;
}
