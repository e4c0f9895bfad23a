#include "tokenizer/hf_tokenizer.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <list>

#include "core/error.h"
#include "io/file.h"
#include "tokenizer/utf8.h"

namespace r1 {

namespace fs = std::filesystem;

// Leftmost-longest matching of added tokens: a byte trie walked from each position whose
// first byte starts some token.
class HfTokenizer::Matcher {
 public:
  struct Hit {
    size_t b, e;  // the match, widened by lstrip/rstrip
    int32_t id;
  };

  void add(std::string_view content, const AddedToken& t) {
    if (content.empty()) return;
    int32_t node = 0;
    for (const char ch : content) {
      const auto c = static_cast<unsigned char>(ch);
      auto& kids = nodes_[static_cast<size_t>(node)].kids;
      const auto it = std::find_if(kids.begin(), kids.end(), [c](const auto& k) { return k.first == c; });
      if (it != kids.end()) {
        node = it->second;
      } else {
        const auto fresh = static_cast<int32_t>(nodes_.size());
        kids.emplace_back(c, fresh);
        nodes_.emplace_back();
        node = fresh;
      }
    }
    nodes_[static_cast<size_t>(node)].token = t;
    nodes_[static_cast<size_t>(node)].has_token = true;
    first_[static_cast<unsigned char>(content[0])] = true;
  }

  bool empty() const { return nodes_.size() == 1; }

  // The first match at or after `from`.
  bool find(std::string_view text, size_t from, Hit& hit) const {
    const size_t n = text.size();
    for (size_t i = from; i < n; ++i) {
      if (!first_[static_cast<unsigned char>(text[i])]) continue;
      size_t node = 0, end = 0;
      const AddedToken* best = nullptr;
      for (size_t j = i; j < n; ++j) {
        const auto c = static_cast<unsigned char>(text[j]);
        const auto& kids = nodes_[node].kids;
        const auto it = std::find_if(kids.begin(), kids.end(), [c](const auto& k) { return k.first == c; });
        if (it == kids.end()) break;
        node = static_cast<size_t>(it->second);
        if (nodes_[node].has_token) {
          best = &nodes_[node].token;
          end = j + 1;
        }
      }
      if (best == nullptr) continue;
      if (best->single_word && (word_char_before(text, i) || word_char_at(text, end))) continue;
      size_t b = i, e = end;
      if (best->lstrip)
        while (b > from) {
          const size_t k = space_before(text, b);
          if (k == 0 || b - k < from) break;
          b -= k;
        }
      if (best->rstrip)
        while (e < n) {
          const size_t k = space_at(text, e);
          if (k == 0) break;
          e += k;
        }
      hit = {b, e, best->id};
      return true;
    }
    return false;
  }

 private:
  static size_t space_at(std::string_view s, size_t i) {
    const size_t n = utf8::valid_len(s, i);
    if (n == 0) return 0;
    return u_isUWhiteSpace(static_cast<UChar32>(utf8::decode_at(s, i, n))) ? n : 0;
  }
  static size_t space_before(std::string_view s, size_t end) {
    for (size_t back = 1; back <= 4 && back <= end; ++back)
      if (utf8::valid_len(s, end - back) == back) return space_at(s, end - back);
    return 0;
  }
  static bool is_word(std::string_view s, size_t i, size_t n) {
    const auto cp = static_cast<UChar32>(utf8::decode_at(s, i, n));
    return cp == '_' || u_isalnum(cp);
  }
  static bool word_char_at(std::string_view s, size_t i) {
    if (i >= s.size()) return false;
    const size_t n = utf8::valid_len(s, i);
    return n != 0 && is_word(s, i, n);
  }
  static bool word_char_before(std::string_view s, size_t end) {
    for (size_t back = 1; back <= 4 && back <= end; ++back)
      if (utf8::valid_len(s, end - back) == back) return is_word(s, end - back, back);
    return false;
  }

  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> kids;
    AddedToken token;
    bool has_token = false;
  };
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
};

HfTokenizer::HfTokenizer(TokenizerSpec spec)
    : file_(spec.file),
      raw_all_(std::make_unique<Matcher>()),
      raw_plain_(std::make_unique<Matcher>()),
      norm_all_(std::make_unique<Matcher>()),
      norm_plain_(std::make_unique<Matcher>()) {
  const tok::Where w{file_, ""};
  size_t size = spec.vocab.size();
  for (const AddedToken& t : spec.added) {
    if (t.id < 0)
      w.at("added_tokens").fail(fmt::format("'{}' has a negative id", utf8::printable(t.content)));
    size = std::max(size, static_cast<size_t>(t.id) + 1);
  }
  if (size > static_cast<size_t>(INT32_MAX)) w.fail("has too many tokens");
  tokens_.assign(size, std::string());
  special_.assign(size, 0);
  std::copy(spec.vocab.begin(), spec.vocab.end(), tokens_.begin());
  ids_.reserve(size);
  for (size_t id = 0; id < spec.vocab.size(); ++id)
    if (!spec.vocab[id].empty()) ids_.emplace(spec.vocab[id], static_cast<int32_t>(id));  // first id wins
  for (const AddedToken& t : spec.added) {
    tokens_[static_cast<size_t>(t.id)] = t.content;
    special_[static_cast<size_t>(t.id)] = t.special ? 1 : 0;
    ids_[t.content] = t.id;  // an added token's own id wins
  }

  normalizer_ = tok::make_normalizer(spec.normalizer, w.at("normalizer"));
  pre_tokenizer_ = tok::make_pre_tokenizer(spec.pre_tokenizer, w.at("pre_tokenizer"));
  decoder_ = tok::make_decoder(spec.decoder, w.at("decoder"));
  around_ = tok::make_post_processor(spec.post_processor, w.at("post_processor"));

  BpeOptions opt;
  opt.byte_level = pre_tokenizer_ && pre_tokenizer_->byte_level();
  opt.byte_fallback = spec.byte_fallback;
  opt.fuse_unk = spec.fuse_unk;
  opt.ignore_merges = spec.ignore_merges;
  if (spec.unk_token) {
    opt.unk_id = token_id(*spec.unk_token);
    if (opt.unk_id < 0)
      w.at("model.unk_token")
          .fail(fmt::format("'{}' is not in the vocabulary", utf8::printable(*spec.unk_token)));
  }
  model_ =
      std::make_unique<BpeModel>(spec.vocab, spec.merges, spec.merge_ranks, opt,
                                 spec.merges_where.empty() ? file_ + ": model.merges" : spec.merges_where);

  for (const AddedToken& t : spec.added) {
    std::string content = t.content;
    if (t.normalized && normalizer_) normalizer_->normalize(content);
    Matcher& all = t.normalized ? *norm_all_ : *raw_all_;
    Matcher& plain = t.normalized ? *norm_plain_ : *raw_plain_;
    all.add(content, t);
    if (!t.special) plain.add(content, t);
  }

  if (decoder_ && decoder_->is_byte_level()) {
    byte_pieces_.resize(tokens_.size());
    std::vector<std::string> one;
    for (size_t id = 0; id < tokens_.size(); ++id) {
      one.assign(1, tokens_[id]);
      decoder_->decode_chain(one);
      byte_pieces_[id] = one.empty() ? std::string() : one[0];
    }
  }

  const tok::Where cw{spec.config_file.empty() ? file_ : spec.config_file, ""};
  const auto resolve = [&](const std::string& text, const char* what) {
    if (text.empty()) return -1;
    const int32_t id = token_id(text);
    if (id < 0) cw.at(what).fail(fmt::format("'{}' is not a token of this tokenizer", utf8::printable(text)));
    return id;
  };
  bos_ = resolve(spec.bos_token, "bos_token");
  eos_ = resolve(spec.eos_token, "eos_token");
  if (spec.bos_token.empty() && around_.prefix.size() == 1) bos_ = around_.prefix[0];

  if (spec.save_files.empty())
    save_spec_ = std::move(spec);
  else
    save_files_ = std::move(spec.save_files);
}

HfTokenizer::~HfTokenizer() = default;

std::string HfTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size()) fail("{}: token id {} is out of range [0, {})", file_, id, vocab_size());
  return tokens_[static_cast<size_t>(id)];
}

int32_t HfTokenizer::token_id(std::string_view text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

bool HfTokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= vocab_size()) fail("{}: token id {} is out of range [0, {})", file_, id, vocab_size());
  return special_[static_cast<size_t>(id)] != 0;
}

std::vector<int32_t> HfTokenizer::encode_impl(std::string_view text, bool parse_special,
                                              bool add_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out = around_.prefix;
  const Matcher& m = parse_special ? *raw_all_ : *raw_plain_;
  size_t pos = 0;
  Matcher::Hit hit{};
  while (pos < text.size() && !m.empty() && m.find(text, pos, hit)) {
    if (hit.b > pos) encode_segment(text.substr(pos, hit.b - pos), pos == 0, parse_special, out);
    out.push_back(hit.id);
    pos = hit.e;
  }
  if (pos < text.size()) encode_segment(text.substr(pos), pos == 0, parse_special, out);
  if (add_special) out.insert(out.end(), around_.suffix.begin(), around_.suffix.end());
  return out;
}

void HfTokenizer::encode_segment(std::string_view text, bool at_start, bool parse_special,
                                 std::vector<int32_t>& out) const {
  std::string buf;
  std::string_view s = text;
  if (normalizer_) {
    buf.assign(text);
    normalizer_->normalize(buf);
    s = buf;
  }
  const Matcher& m = parse_special ? *norm_all_ : *norm_plain_;
  if (m.empty()) {
    encode_normalized(s, at_start, out);
    return;
  }
  size_t pos = 0;
  Matcher::Hit hit{};
  while (pos < s.size() && m.find(s, pos, hit)) {
    if (hit.b > pos) encode_normalized(s.substr(pos, hit.b - pos), at_start && pos == 0, out);
    out.push_back(hit.id);
    pos = hit.e;
  }
  if (pos < s.size()) encode_normalized(s.substr(pos), at_start && pos == 0, out);
}

void HfTokenizer::encode_normalized(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (!pre_tokenizer_) {
    model_->encode_word(text, out);
    return;
  }
  std::vector<std::string_view> pieces{text};
  std::list<std::string> arena;
  pre_tokenizer_->split(pieces, tok::PreTokContext{&arena, at_start});
  for (const std::string_view p : pieces) model_->encode_word(p, out);
}

std::string HfTokenizer::decode_impl(std::span<const int32_t> ids, bool skip_special) const {
  const auto n = static_cast<int32_t>(tokens_.size());
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= n)
      fail("{}: token id {} at position {} is out of range [0, {})", file_, ids[i], i, n);
  if (!byte_pieces_.empty()) {
    std::string out;
    for (const int32_t id : ids) {
      const auto k = static_cast<size_t>(id);
      if (!(skip_special && special_[k])) out += byte_pieces_[k];
    }
    return out;
  }
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (const int32_t id : ids) {
    const auto k = static_cast<size_t>(id);
    if (!(skip_special && special_[k])) toks.push_back(tokens_[k]);
  }
  std::string out;
  if (!decoder_) {  // the reference joins the tokens with spaces when there is no decoder
    for (size_t i = 0; i < toks.size(); ++i) out += (i ? " " : "") + toks[i];
    return out;
  }
  decoder_->decode_chain(toks);
  for (const std::string& t : toks) out += t;
  return out;
}

void HfTokenizer::save(const std::string& dir) const {
  if (!save_files_.empty()) {
    for (const auto& [src, name] : save_files_) {
      const fs::path dst = fs::path(dir) / name;
      std::error_code ec;
      if (fs::exists(dst) && fs::equivalent(src, dst, ec)) continue;
      write_file_atomic(dst.string(), read_file(src));
    }
    return;
  }
  const auto dump = [&](const nlohmann::json& j, const std::string& name) {
    std::string text;
    try {
      text = j.dump(2) + "\n";
    } catch (const nlohmann::json::exception&) {
      fail("{}: cannot write {}: a token is not valid UTF-8", file_, name);
    }
    write_file_atomic((fs::path(dir) / name).string(), text);
  };
  dump(spec_to_tokenizer_json(save_spec_), "tokenizer.json");
  nlohmann::json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                        {"clean_up_tokenization_spaces", false}};
  cfg["bos_token"] = bos_ >= 0 ? nlohmann::json(tokens_[static_cast<size_t>(bos_)]) : nlohmann::json(nullptr);
  cfg["eos_token"] = eos_ >= 0 ? nlohmann::json(tokens_[static_cast<size_t>(eos_)]) : nlohmann::json(nullptr);
  if (save_spec_.unk_token) cfg["unk_token"] = *save_spec_.unk_token;
  dump(cfg, "tokenizer_config.json");
}

}  // namespace r1
