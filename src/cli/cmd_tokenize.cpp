// r1 tokenize: text on stdin to a JSON array of token ids, or (--decode) ids back to text.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "io/encoding.h"
#include "io/json.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

struct TokenizeArgs {
  std::string tokenizer;
  bool decode = false, no_special = false, add_special = false, skip_special = false;
};

std::string read_stdin() {
  std::string s;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) s.append(buf, n);
  if (std::ferror(stdin)) fail("stdin: read error");
  return s;
}

std::vector<int32_t> parse_id_array(const std::string& text) {
  const nlohmann::json j = parse_json(text, "stdin");
  if (!j.is_array()) fail("stdin: expected a JSON array of token ids, got {}", j.type_name());
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& v = j[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      fail("stdin: element {} is not a token id (a non-negative integer)", i);
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

int run_tokenize(const TokenizeArgs& a) {
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(a.tokenizer);
  const std::string input = read_stdin();
  require_utf8(input, "stdin");  // UTF-16 from PowerShell's pipe would otherwise tokenize its NULs
  if (a.decode) {
    const std::string text = tok->decode(parse_id_array(input), a.skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    const std::vector<int32_t> ids = tok->encode(input, !a.no_special, a.add_special);
    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
  }
  std::fflush(stdout);
  if (std::ferror(stdout)) fail("stdout: write error");
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* c = app.add_subcommand(
      "tokenize", "UTF-8 text on stdin to a JSON array of token ids; --decode: a JSON array of ids to text");
  c->add_option("--tokenizer", a->tokenizer, "model directory, tokenizer.json or .gguf file")->required();
  c->add_flag("--decode", a->decode, "read a JSON array of ids and print their text (no newline added)");
  c->add_flag("--no-special", a->no_special, "treat special-token text in the input as plain text");
  c->add_flag("--add-special", a->add_special,
              "add the special tokens the tokenizer's post-processor asks for (BOS/EOS)");
  c->add_flag("--skip-special", a->skip_special, "with --decode: leave special tokens out of the text");
  out.push_back({c, [a] { return run_tokenize(*a); }});
}

}  // namespace r1::cli
