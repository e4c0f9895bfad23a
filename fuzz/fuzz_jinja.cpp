// libFuzzer target for the Jinja interpreter (parse and render). The input is a template source,
// optionally followed by a NUL byte and a JSON object of variables (a chat conversation is used
// when absent or malformed). Small limits keep each run fast; every failure must be an r1::Error,
// never a crash, a hang, a leak or undefined behaviour. Built by the R1_FUZZ CMake option with
// clang: -fsanitize=fuzzer,address,undefined.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/jinja.h"

namespace {

const nlohmann::ordered_json& default_vars() {
  static const nlohmann::ordered_json v = r1::parse_json<nlohmann::ordered_json>(R"({
    "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "héllo <think>x</think>"},
                 {"role": "assistant", "content": "<think>\nr\n</think>\n\na",
                  "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
                 {"role": "tool", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false})",
                                                                                 "default_vars");
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string_view source = in.substr(0, nul);
  nlohmann::ordered_json vars = default_vars();
  if (nul != std::string_view::npos) {
    vars = r1::parse_json_or_discarded<nlohmann::ordered_json>(in.substr(nul + 1));
    if (vars.is_discarded() || !vars.is_object()) vars = default_vars();
  }
  r1::jinja::Limits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_steps = 200000;
  limits.max_depth = 64;
  try {
    const r1::jinja::Template t(source, "fuzz", limits);
    t.render(vars);
  } catch (const r1::Error&) {
  }
  return 0;
}
