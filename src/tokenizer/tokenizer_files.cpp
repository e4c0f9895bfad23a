// The three ways a tokenizer arrives: tokenizer.json, vocab.json + merges.txt, GGUF metadata.
// Each becomes a TokenizerSpec; HfTokenizer builds the same tokenizer from any of them.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/encoding.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/json.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/utf8.h"

namespace r1 {

namespace fs = std::filesystem;
using json = nlohmann::json;
using tok::Where;

namespace {

// Ids beyond this are refused rather than allocated for (real vocabularies stay far below).
constexpr int64_t kMaxId = int64_t{1} << 24;

const char* const kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's word marker

std::vector<std::string> parse_vocab(const json& v, const Where& w) {
  if (!v.is_object()) w.fail("must be an object mapping tokens to ids");
  std::vector<std::string> out;
  std::vector<uint8_t> used;
  for (const auto& [text, idv] : v.items()) {
    if (!idv.is_number_integer() || idv.get<int64_t>() < 0 || idv.get<int64_t>() >= kMaxId)
      w.fail(fmt::format("'{}' has id {}, not a token id in [0, {})", utf8::printable(text),
                         utf8::printable(idv.dump()), kMaxId));
    const auto id = static_cast<size_t>(idv.get<int64_t>());
    if (id >= out.size()) {
      out.resize(id + 1);
      used.resize(id + 1);
    }
    if (used[id])
      w.fail(fmt::format("id {} is given to both '{}' and '{}'", id, utf8::printable(out[id]),
                         utf8::printable(text)));
    if (text.empty()) w.fail(fmt::format("id {} has an empty token", id));
    out[id] = text;
    used[id] = 1;
  }
  return out;
}

std::pair<std::string, std::string> split_merge(const std::string& line, const Where& w) {
  const size_t sp = line.find(' ');
  if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() ||
      line.find(' ', sp + 1) != std::string::npos)
    w.fail(fmt::format("'{}' is not two tokens separated by one space", utf8::printable(line)));
  return {line.substr(0, sp), line.substr(sp + 1)};
}

AddedToken parse_added(const json& a, const Where& w) {
  if (!a.is_object()) w.fail("must be an object");
  AddedToken t;
  const int64_t id = tok::get_int(a, "id", w, -1);
  if (id < 0 || id >= kMaxId) w.at("id").fail(a.contains("id") ? "is not a token id" : "is missing");
  t.id = static_cast<int32_t>(id);
  if (!a.contains("content") || !a["content"].is_string()) w.at("content").fail("must be a string");
  t.content = a["content"].get<std::string>();
  if (t.content.empty()) w.at("content").fail("is empty");
  t.special = tok::get_bool(a, "special", w, false);
  t.single_word = tok::get_bool(a, "single_word", w, false);
  t.lstrip = tok::get_bool(a, "lstrip", w, false);
  t.rstrip = tok::get_bool(a, "rstrip", w, false);
  t.normalized = tok::get_bool(a, "normalized", w, !t.special);
  return t;
}

// A TemplateProcessing post-processor adding bos before and/or eos after a sequence.
json template_post_processor(const std::string& bos, int32_t bos_id, const std::string& eos, int32_t eos_id) {
  json single = json::array(), specials = json::object();
  const auto special = [&](const std::string& t, int32_t id) {
    single.push_back({{"SpecialToken", {{"id", t}, {"type_id", 0}}}});
    specials[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
  };
  if (bos_id >= 0) special(bos, bos_id);
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (eos_id >= 0) special(eos, eos_id);
  if (bos_id < 0 && eos_id < 0) return nullptr;
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", single}, {"special_tokens", specials}};
}

json split_pre_tokenizer(const char* pattern) {
  return {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"},
         {"add_prefix_space", false},
         {"trim_offsets", false},
         {"use_regex", false}}}}};
}

json byte_level_decoder() {
  return {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
}

// "content" of a tokenizer_config.json special-token entry: a string, {"content": ...}, or null.
std::string config_token(const json& cfg, const char* key, const Where& w) {
  if (!cfg.contains(key) || cfg[key].is_null()) return "";
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  w.at(key).fail("must be a string or an object with \"content\"");
}

}  // namespace

// ------------------------------------------------------------------ tokenizer.json

TokenizerSpec spec_from_tokenizer_json(const json& j, const std::string& path) {
  const Where w{path, ""};
  if (!j.is_object()) w.fail("must be a JSON object");
  TokenizerSpec spec;
  spec.file = path;
  spec.merges_where = path + ": model.merges";
  const Where mw = w.at("model");
  if (!j.contains("model") || j["model"].is_null()) mw.fail("is missing");
  const json& model = j["model"];
  if (!model.is_object()) mw.fail("must be an object");
  std::string type;
  if (model.contains("type"))
    type = tok::get_type(model, mw);
  else if (model.contains("merges"))
    type = "BPE";  // older files leave the type out; a merges list means BPE
  else
    mw.at("type").fail("is missing");
  if (type != "BPE")
    mw.at("type").fail(fmt::format("'{}' is not supported (only BPE)", utf8::printable(type)));

  if (!model.contains("vocab")) mw.at("vocab").fail("is missing");
  spec.vocab = parse_vocab(model["vocab"], mw.at("vocab"));
  if (model.contains("merges") && !model["merges"].is_null()) {
    const json& merges = model["merges"];
    const Where gw = mw.at("merges");
    if (!merges.is_array()) gw.fail("must be an array");
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      if (m.is_string()) {
        spec.merges.push_back(split_merge(m.get<std::string>(), gw.at(i)));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        gw.at(i).fail("must be \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    if (!model["dropout"].is_number()) mw.at("dropout").fail("must be a number or null");
    if (model["dropout"].get<double>() != 0.0) mw.at("dropout").fail("BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const std::string v = tok::get_string(model, key, mw, "");
    if (!v.empty()) mw.at(key).fail(fmt::format("'{}' is not supported", utf8::printable(v)));
  }
  if (model.contains("unk_token") && !model["unk_token"].is_null())
    spec.unk_token = tok::get_string(model, "unk_token", mw, "");
  spec.byte_fallback = tok::get_bool(model, "byte_fallback", mw, false);
  spec.fuse_unk = tok::get_bool(model, "fuse_unk", mw, false);
  spec.ignore_merges = tok::get_bool(model, "ignore_merges", mw, false);

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const json& added = j["added_tokens"];
    const Where aw = w.at("added_tokens");
    if (!added.is_array()) aw.fail("must be an array");
    for (size_t i = 0; i < added.size(); ++i) spec.added.push_back(parse_added(added[i], aw.at(i)));
  }
  for (const char* key : {"normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    const json v = j.contains(key) ? j[key] : json(nullptr);
    if (std::string(key) == "normalizer")
      spec.normalizer = v;
    else if (std::string(key) == "pre_tokenizer")
      spec.pre_tokenizer = v;
    else if (std::string(key) == "post_processor")
      spec.post_processor = v;
    else
      spec.decoder = v;
  }
  return spec;
}

void read_tokenizer_config(TokenizerSpec& spec, const std::string& config_path) {
  if (!fs::is_regular_file(config_path)) return;
  const json cfg = read_json_file(config_path);
  const Where w{config_path, ""};
  if (!cfg.is_object()) w.fail("must be a JSON object");
  spec.config_file = config_path;
  spec.bos_token = config_token(cfg, "bos_token", w);
  spec.eos_token = config_token(cfg, "eos_token", w);
}

// ------------------------------------------------------------------ vocab.json + merges.txt

TokenizerSpec spec_from_vocab_merges(const std::string& dir) {
  const std::string vocab_path = (fs::path(dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(dir) / "merges.txt").string();
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  const std::string added_path = (fs::path(dir) / "added_tokens.json").string();
  TokenizerSpec spec;
  spec.file = vocab_path;
  spec.merges_where = merges_path + ": merges";
  spec.vocab = parse_vocab(read_json_file(vocab_path), Where{vocab_path, ""});

  const std::string text = read_text_file(merges_path);
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    spec.merges.push_back(split_merge(line, Where{merges_path, fmt::format("line {}:", line_no)}));
  }

  json cfg = json::object();
  if (fs::is_regular_file(config_path)) {
    cfg = read_json_file(config_path);
    if (!cfg.is_object()) Where{config_path, ""}.fail("must be a JSON object");
  }
  const Where cw{config_path, ""};
  const std::string cls = tok::get_string(cfg, "tokenizer_class", cw, "GPT2Tokenizer");
  if (cls == "Qwen2Tokenizer" || cls == "Qwen2TokenizerFast") {
    spec.normalizer = {{"type", "NFC"}};
    spec.pre_tokenizer = split_pre_tokenizer(tok::kQwen2Pattern);
  } else if (cls == "GPT2Tokenizer" || cls == "GPT2TokenizerFast") {
    spec.pre_tokenizer = {{"type", "ByteLevel"},
                          {"add_prefix_space", tok::get_bool(cfg, "add_prefix_space", cw, false)},
                          {"trim_offsets", true},
                          {"use_regex", true}};
  } else {
    cw.at("tokenizer_class")
        .fail(
            fmt::format("'{}' is not supported with vocab.json + merges.txt (Qwen2Tokenizer, GPT2Tokenizer)",
                        utf8::printable(cls)));
  }
  spec.decoder = byte_level_decoder();

  read_tokenizer_config(spec, config_path);
  const std::string unk = config_token(cfg, "unk_token", cw);
  if (!unk.empty()) spec.unk_token = unk;

  // Added tokens: tokenizer_config.json's added_tokens_decoder (with their flags), then any
  // others added_tokens.json lists (special when the config names them as special tokens).
  std::map<int32_t, AddedToken> added;
  if (cfg.contains("added_tokens_decoder") && !cfg["added_tokens_decoder"].is_null()) {
    const json& d = cfg["added_tokens_decoder"];
    const Where dw = cw.at("added_tokens_decoder");
    if (!d.is_object()) dw.fail("must be an object");
    for (const auto& [key, v] : d.items()) {
      json entry = v;
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
      if (id < 0 || id >= kMaxId) dw.fail(fmt::format("key '{}' is not a token id", utf8::printable(key)));
      if (entry.is_object()) entry["id"] = id;
      AddedToken t = parse_added(entry, dw.at(key));
      if (!entry.contains("normalized")) t.normalized = false;
      added[t.id] = t;
    }
  }
  if (fs::is_regular_file(added_path)) {
    const json a = read_json_file(added_path);
    const Where aw{added_path, ""};
    if (!a.is_object()) aw.fail("must be an object mapping tokens to ids");
    std::vector<std::string> specials = {spec.bos_token, spec.eos_token, unk,
                                         config_token(cfg, "pad_token", cw)};
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array())
      for (const json& s : cfg["additional_special_tokens"])
        if (s.is_string()) specials.push_back(s.get<std::string>());
    for (const auto& [content, idv] : a.items()) {
      if (!idv.is_number_integer() || idv.get<int64_t>() < 0 || idv.get<int64_t>() >= kMaxId)
        aw.fail(fmt::format("'{}' has id {}, not a token id", utf8::printable(content),
                            utf8::printable(idv.dump())));
      const auto id = static_cast<int32_t>(idv.get<int64_t>());
      if (added.count(id)) {
        if (added[id].content != content)
          aw.fail(fmt::format("id {} is '{}' here but '{}' in {}", id, utf8::printable(content),
                              utf8::printable(added[id].content), config_path));
        continue;
      }
      AddedToken t;
      t.id = id;
      t.content = content;
      t.special = std::find(specials.begin(), specials.end(), content) != specials.end();
      added[id] = t;
    }
  }
  for (auto& [id, t] : added) spec.added.push_back(t);

  // BOS/EOS added by the post-processor only where the config asks (add_bos_token).
  const auto id_of = [&](const std::string& t) -> int32_t {
    for (const AddedToken& a : spec.added)
      if (a.content == t) return a.id;
    const auto it = std::find(spec.vocab.begin(), spec.vocab.end(), t);
    return it == spec.vocab.end() ? -1 : static_cast<int32_t>(it - spec.vocab.begin());
  };
  const bool add_bos = tok::get_bool(cfg, "add_bos_token", cw, false) && !spec.bos_token.empty();
  const bool add_eos = tok::get_bool(cfg, "add_eos_token", cw, false) && !spec.eos_token.empty();
  spec.post_processor = template_post_processor(spec.bos_token, add_bos ? id_of(spec.bos_token) : -1,
                                                spec.eos_token, add_eos ? id_of(spec.eos_token) : -1);

  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json",
                           "special_tokens_map.json", "generation_config.json"}) {
    if (std::string(name) == "generation_config.json") continue;  // the model's, not the tokenizer's
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) spec.save_files.emplace_back(p.string(), name);
  }
  return spec;
}

// ------------------------------------------------------------------ GGUF

namespace {

enum GgufTokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

}  // namespace

TokenizerSpec spec_from_gguf(const GGUFFile& g) {
  const std::string& path = g.path();
  const json& md = g.metadata();
  const auto key_fail = [&](const std::string& key, const std::string& what) {
    fail("{}: {} {}", path, key, what);
  };
  const auto get = [&](const std::string& key) -> const json* {
    const auto it = md.find(key);
    return it == md.end() ? nullptr : &*it;
  };
  const json* model = get("tokenizer.ggml.model");
  if (model == nullptr) fail("{}: tokenizer.ggml.model is missing: the file carries no tokenizer", path);
  if (!model->is_string()) key_fail("tokenizer.ggml.model", "must be a string");
  const std::string kind = model->get<std::string>();
  if (kind != "llama" && kind != "gpt2")
    key_fail("tokenizer.ggml.model",
             fmt::format("'{}' is not supported (llama, gpt2)", utf8::printable(kind)));

  const json* tokens = get("tokenizer.ggml.tokens");
  if (tokens == nullptr) key_fail("tokenizer.ggml.tokens", "is missing");
  if (!tokens->is_array() || tokens->empty())
    key_fail("tokenizer.ggml.tokens", "must be a non-empty array of strings");
  const size_t n = tokens->size();
  if (n >= static_cast<size_t>(kMaxId)) key_fail("tokenizer.ggml.tokens", "has too many entries");

  TokenizerSpec spec;
  spec.file = path;
  spec.merges_where = path + ": tokenizer.ggml.merges";
  spec.vocab.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (!(*tokens)[i].is_string()) key_fail(fmt::format("tokenizer.ggml.tokens[{}]", i), "must be a string");
    spec.vocab[i] = (*tokens)[i].get<std::string>();
    if (spec.vocab[i].empty()) key_fail(fmt::format("tokenizer.ggml.tokens[{}]", i), "is empty");
  }
  std::vector<int64_t> types(n, kNormal);
  if (const json* t = get("tokenizer.ggml.token_type")) {
    if (!t->is_array() || t->size() != n)
      key_fail("tokenizer.ggml.token_type", fmt::format("has {} entries but tokenizer.ggml.tokens has {}",
                                                        t->is_array() ? t->size() : 0, n));
    for (size_t i = 0; i < n; ++i) {
      if (!(*t)[i].is_number_integer())
        key_fail(fmt::format("tokenizer.ggml.token_type[{}]", i), "must be an integer");
      types[i] = (*t)[i].get<int64_t>();
    }
  }
  std::vector<double> scores(n, 0.0);
  if (const json* s = get("tokenizer.ggml.scores")) {
    if (!s->is_array() || s->size() != n)
      key_fail("tokenizer.ggml.scores", fmt::format("has {} entries but tokenizer.ggml.tokens has {}",
                                                    s->is_array() ? s->size() : 0, n));
    for (size_t i = 0; i < n; ++i) {
      if (!(*s)[i].is_number()) key_fail(fmt::format("tokenizer.ggml.scores[{}]", i), "must be a number");
      scores[i] = (*s)[i].get<double>();
    }
  }
  const auto id_key = [&](const std::string& key) -> int32_t {
    const json* v = get(key);
    if (v == nullptr) return -1;
    if (!v->is_number_integer()) key_fail(key, "must be an integer");
    const int64_t id = v->get<int64_t>();
    if (id == -1 || id == 0xFFFFFFFFLL) return -1;  // "none"
    if (id < 0 || static_cast<size_t>(id) >= n)
      key_fail(key, fmt::format("{} is outside the vocabulary ({} tokens)", id, n));
    return static_cast<int32_t>(id);
  };
  const auto bool_key = [&](const std::string& key, bool def) {
    const json* v = get(key);
    if (v == nullptr) return def;
    if (!v->is_boolean()) key_fail(key, "must be true or false");
    return v->get<bool>();
  };
  const int32_t bos = id_key("tokenizer.ggml.bos_token_id");
  const int32_t eos = id_key("tokenizer.ggml.eos_token_id");
  const int32_t unk = id_key("tokenizer.ggml.unknown_token_id");
  if (bos >= 0) spec.bos_token = spec.vocab[static_cast<size_t>(bos)];
  if (eos >= 0) spec.eos_token = spec.vocab[static_cast<size_t>(eos)];

  for (size_t i = 0; i < n; ++i) {
    const int64_t t = types[i];
    if (t != kControl && t != kUserDefined && t != kUnknown) continue;
    AddedToken a;
    a.id = static_cast<int32_t>(i);
    a.content = spec.vocab[i];
    a.special = t != kUserDefined;
    spec.added.push_back(a);
  }
  const bool is_spm = kind == "llama";
  const bool add_bos = bool_key("tokenizer.ggml.add_bos_token", is_spm);
  const bool add_eos = bool_key("tokenizer.ggml.add_eos_token", false);
  spec.post_processor =
      template_post_processor(spec.bos_token, add_bos ? bos : -1, spec.eos_token, add_eos ? eos : -1);

  if (is_spm) {
    // SentencePiece BPE: merges are every split of a piece into two pieces, ranked by the
    // merged piece's score (higher first; equal scores share a rank, so the leftmost pair
    // wins among them, as in llama.cpp).
    const bool prefix = bool_key("tokenizer.ggml.add_space_prefix", true);
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < n; ++i)
      ids[spec.vocab[i]] = static_cast<int32_t>(i);  // the last id wins, as in llama.cpp
    struct Cand {
      double score;
      int32_t merged, left, right;
    };
    std::vector<Cand> cands;
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = spec.vocab[i];
      if (ids[t] != static_cast<int32_t>(i)) continue;
      for (size_t k = utf8::unit_len(t, 0); k < t.size(); k += utf8::unit_len(t, k)) {
        const auto l = ids.find(t.substr(0, k));
        if (l == ids.end()) continue;
        const auto r = ids.find(t.substr(k));
        if (r == ids.end()) continue;
        cands.push_back(
            {std::isnan(scores[i]) ? -INFINITY : scores[i], static_cast<int32_t>(i), l->second, r->second});
      }
    }
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
      if (a.score != b.score) return a.score > b.score;
      if (a.merged != b.merged) return a.merged < b.merged;
      return a.left < b.left;
    });
    uint32_t rank = 0;
    for (size_t i = 0; i < cands.size(); ++i) {
      if (i > 0 && cands[i].score != cands[i - 1].score) ++rank;
      spec.merges.emplace_back(spec.vocab[static_cast<size_t>(cands[i].left)],
                               spec.vocab[static_cast<size_t>(cands[i].right)]);
      spec.merge_ranks.push_back(rank);
    }
    if (unk >= 0) spec.unk_token = spec.vocab[static_cast<size_t>(unk)];
    spec.byte_fallback = true;
    spec.fuse_unk = true;
    const json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMetaspace}};
    spec.normalizer = prefix
                          ? json{{"type", "Sequence"},
                                 {"normalizers", {{{"type", "Prepend"}, {"prepend", kMetaspace}}, replace}}}
                          : replace;
    spec.decoder = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", kMetaspace}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", prefix ? 1 : 0}, {"stop", 0}}}}};
    return spec;
  }

  // gpt2: byte-level BPE with stored merges; the pre-tokenizer is named, not stored.
  const json* merges = get("tokenizer.ggml.merges");
  if (merges == nullptr) key_fail("tokenizer.ggml.merges", "is missing");
  if (!merges->is_array()) key_fail("tokenizer.ggml.merges", "must be an array of strings");
  spec.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const Where mw{path, fmt::format("tokenizer.ggml.merges[{}]", i)};
    if (!(*merges)[i].is_string()) mw.fail("must be a string");
    spec.merges.push_back(split_merge((*merges)[i].get<std::string>(), mw));
  }
  std::string pre = "default";
  if (const json* p = get("tokenizer.ggml.pre")) {
    if (!p->is_string()) key_fail("tokenizer.ggml.pre", "must be a string");
    pre = p->get<std::string>();
  }
  if (pre == "qwen2") {
    spec.normalizer = {{"type", "NFC"}};
    spec.pre_tokenizer = split_pre_tokenizer(tok::kQwen2Pattern);
  } else if (pre == "llama-bpe" || pre == "llama3") {
    spec.pre_tokenizer = split_pre_tokenizer(tok::kLlama3Pattern);
    spec.ignore_merges = true;
  } else if (pre == "default" || pre == "gpt2" || pre == "gpt-2") {
    spec.pre_tokenizer = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  } else {
    key_fail("tokenizer.ggml.pre",
             fmt::format("'{}' is not supported (qwen2, llama-bpe, gpt2, default)", utf8::printable(pre)));
  }
  if (unk >= 0) spec.unk_token = spec.vocab[static_cast<size_t>(unk)];
  spec.decoder = byte_level_decoder();
  return spec;
}

// ------------------------------------------------------------------ back to tokenizer.json

json spec_to_tokenizer_json(const TokenizerSpec& spec) {
  json vocab = json::object();
  for (size_t id = 0; id < spec.vocab.size(); ++id)
    if (!spec.vocab[id].empty() && !vocab.contains(spec.vocab[id])) vocab[spec.vocab[id]] = id;
  json merges = json::array();
  for (const auto& [a, b] : spec.merges) merges.push_back({a, b});
  json added = json::array();
  for (const AddedToken& t : spec.added)
    added.push_back({{"id", t.id},
                     {"content", t.content},
                     {"single_word", t.single_word},
                     {"lstrip", t.lstrip},
                     {"rstrip", t.rstrip},
                     {"normalized", t.normalized},
                     {"special", t.special}});
  json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", spec.unk_token ? json(*spec.unk_token) : json(nullptr)},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", spec.fuse_unk},
                {"byte_fallback", spec.byte_fallback},
                {"ignore_merges", spec.ignore_merges},
                {"vocab", vocab},
                {"merges", merges}};
  return json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", spec.normalizer},
              {"pre_tokenizer", spec.pre_tokenizer},
              {"post_processor", spec.post_processor},
              {"decoder", spec.decoder},
              {"model", model}};
}

}  // namespace r1
