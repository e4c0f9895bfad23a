// End-to-end: the r1 binary refuses bad models, configs, prompts, recipes and data cleanly.
// Every case runs the real binary and checks that it exits with status 1 (not 0, not a
// signal), prints nothing on stdout, and prints exactly one line "r1: error: ..." on stderr
// that names the offending file (or field, or line) and says what is wrong with it.
//
// The valid starting point is a tiny Llama made by `r1 pretrain` (one step, 1 layer, hidden
// 32) in a scratch directory; the corrupt files are written by the small safetensors and GGUF
// writers below, whose uncorrupted output is first shown to load and generate. Only the
// stories260K GGUF cases need the shared fixtures (r1::testing::shared_dir()); they skip
// without them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "run_r1.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using r1::testing::describe;
using r1::testing::gguf_name;
using r1::testing::gguf_value;
using r1::testing::GgufValue;
using r1::testing::GgufWriter;
using r1::testing::IsOneLineError;
using r1::testing::run_r1;
using r1::testing::RunResult;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Files.

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A TOML basic string.
std::string toml_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------
// Safetensors: 8-byte little-endian header length, JSON header, data section.

struct StTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// The tensors of a (valid) safetensors file, in data-section order.
std::vector<StTensor> parse_safetensors(const std::string& file) {
  if (file.size() < 8) throw std::runtime_error("safetensors file too short");
  uint64_t h = 0;
  std::memcpy(&h, file.data(), 8);
  const json header = json::parse(file.substr(8, h));
  const std::string data = file.substr(8 + h);
  std::vector<std::pair<uint64_t, StTensor>> found;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") continue;
    const auto off = e.at("data_offsets").get<std::vector<uint64_t>>();
    StTensor t{name, e.at("dtype").get<std::string>(), e.at("shape").get<std::vector<int64_t>>(),
               data.substr(off.at(0), off.at(1) - off.at(0))};
    found.emplace_back(off[0], std::move(t));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<StTensor> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

// A safetensors file being written: the header stays editable until bytes() serialises it.
struct StFile {
  ojson header = ojson::object();
  std::string data;

  explicit StFile(const std::vector<StTensor>& tensors) {
    header["__metadata__"] = {{"format", "pt"}};
    for (const auto& t : tensors) add(t);
  }
  void add(const StTensor& t) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  ojson& operator[](const std::string& name) { return header.at(name); }
  uint64_t begin(const std::string& name) const {
    return header.at(name).at("data_offsets")[0].get<uint64_t>();
  }
  uint64_t end(const std::string& name) const {
    return header.at(name).at("data_offsets")[1].get<uint64_t>();
  }
  std::string header_text() const {
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
  }
  // The file; length_field replaces the 8-byte header length when given.
  std::string bytes(std::optional<uint64_t> length_field = std::nullopt) const {
    const std::string text = header_text();
    const uint64_t n = length_field.value_or(text.size());
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out + text + data;
  }
};

// ---------------------------------------------------------------------------------------------
// GGUF: a writer for a small llama file, and a parser that finds where each part lies.

// A GGUF v3 llama file holding the tiny model's F32 tensors (in the HF row order: r1 permutes
// q/k rows on load, which changes the numbers but not whether the file loads).
std::string build_gguf(const std::vector<StTensor>& tensors, const json& cfg,
                       const std::map<std::string, GgufValue>& overrides = {}) {
  GgufWriter w;
  w.overrides = overrides;
  w.b = "GGUF";
  w.raw<uint32_t>(3);
  w.raw<uint64_t>(tensors.size());
  w.raw<uint64_t>(13);  // key/value count, written below
  w.kv_str("general.architecture", "llama");
  w.kv_str("general.name", "r1 cli test tiny llama");
  w.kv_u32("llama.context_length", cfg.at("max_position_embeddings").get<uint32_t>());
  w.kv_u32("llama.embedding_length", cfg.at("hidden_size").get<uint32_t>());
  w.kv_u32("llama.feed_forward_length", cfg.at("intermediate_size").get<uint32_t>());
  w.kv_u32("llama.block_count", cfg.at("num_hidden_layers").get<uint32_t>());
  w.kv_u32("llama.attention.head_count", cfg.at("num_attention_heads").get<uint32_t>());
  w.kv_u32("llama.attention.head_count_kv", cfg.at("num_key_value_heads").get<uint32_t>());
  w.kv_u32("llama.attention.key_length", cfg.at("head_dim").get<uint32_t>());
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", cfg.at("rms_norm_eps").get<float>());
  std::vector<std::string> vocab;
  for (int i = 0; i < cfg.at("vocab_size").get<int>(); ++i) vocab.push_back("<tok" + std::to_string(i) + ">");
  w.kv_str_array("tokenizer.ggml.tokens", vocab);
  w.kv_u32("tokenizer.ggml.bos_token_id", cfg.at("bos_token_id").get<uint32_t>());
  w.kv_u32("tokenizer.ggml.eos_token_id", cfg.at("eos_token_id").get<uint32_t>());
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.dtype != "F32") throw std::runtime_error("build_gguf: only F32 tensors");
    w.str(gguf_name(t.name));
    w.raw<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) w.raw<int64_t>(*it);
    w.raw<uint32_t>(0);  // GGML_TYPE_F32
    w.raw<uint64_t>(offset);
    offset += (t.bytes.size() + 31) / 32 * 32;
  }
  w.pad_to(32);
  for (const auto& t : tensors) {
    w.b += t.bytes;
    w.pad_to(32);
  }
  return w.b;
}

struct GgufLayout {
  std::vector<size_t> kv_starts;  // byte offset of each key/value
  std::vector<std::string> keys;
  size_t infos_start = 0;
  std::vector<size_t> info_starts;  // byte offset of each tensor info
  std::vector<size_t> type_fields;  // byte offset of each tensor info's u32 ggml type
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> ne;
  size_t infos_end = 0;
};

// Where the parts of a (valid) GGUF file lie.
GgufLayout parse_gguf_layout(const std::string& f) {
  size_t pos = 0;
  auto need = [&](size_t n) {
    if (n > f.size() - pos) throw std::runtime_error("parse_gguf_layout: file ends early");
  };
  auto u32 = [&] {
    need(4);
    uint32_t v;
    std::memcpy(&v, f.data() + pos, 4);
    pos += 4;
    return v;
  };
  auto u64 = [&] {
    need(8);
    uint64_t v;
    std::memcpy(&v, f.data() + pos, 8);
    pos += 8;
    return v;
  };
  auto str = [&] {
    const uint64_t n = u64();
    need(n);
    std::string s = f.substr(pos, n);
    pos += n;
    return s;
  };
  std::function<void(uint32_t)> skip = [&](uint32_t type) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
    } else if (type == 9) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      for (uint64_t i = 0; i < n; ++i) skip(et);
    } else if (type < 13) {
      need(sizes[type]);
      pos += sizes[type];
    } else {
      throw std::runtime_error("parse_gguf_layout: unknown value type");
    }
  };
  GgufLayout L;
  need(4);
  if (f.compare(0, 4, "GGUF") != 0) throw std::runtime_error("parse_gguf_layout: bad magic");
  pos = 4;
  u32();
  const uint64_t n_tensors = u64(), n_kv = u64();
  for (uint64_t i = 0; i < n_kv; ++i) {
    L.kv_starts.push_back(pos);
    L.keys.push_back(str());
    skip(u32());
  }
  L.infos_start = pos;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    L.info_starts.push_back(pos);
    L.names.push_back(str());
    const uint32_t nd = u32();
    std::vector<int64_t> ne;
    for (uint32_t d = 0; d < nd; ++d) ne.push_back(static_cast<int64_t>(u64()));
    L.ne.push_back(ne);
    L.type_fields.push_back(pos);
    u32();
    u64();
  }
  L.infos_end = pos;
  return L;
}

// Cut points strictly inside the metadata and the tensor infos: inside a key's length, inside
// a key's text, inside a value (the middle of each key/value, which for the vocabulary is the
// middle of a long array of strings), inside a tensor name, its dimensions, its type, its
// offset.
// Each part is cut at every one of these points for the first, a middle and the last
// key/value and tensor info, and for the longest key/value (the vocabulary).
std::vector<size_t> gguf_cuts_in_header(const GgufLayout& L) {
  std::vector<size_t> cuts = {10, 20};  // inside the version / the counts
  auto kv_end = [&](size_t i) { return i + 1 < L.kv_starts.size() ? L.kv_starts[i + 1] : L.infos_start; };
  std::vector<size_t> kvs = {0, L.kv_starts.size() / 2, L.kv_starts.size() - 1};
  size_t longest = 0;
  for (size_t i = 0; i < L.kv_starts.size(); ++i)
    if (kv_end(i) - L.kv_starts[i] > kv_end(longest) - L.kv_starts[longest]) longest = i;
  kvs.push_back(longest);
  for (size_t i : kvs) {
    const size_t next = kv_end(i);
    cuts.push_back(L.kv_starts[i] + 3);
    cuts.push_back(L.kv_starts[i] + 9);
    cuts.push_back((L.kv_starts[i] + next) / 2);
    cuts.push_back(next - 1);
  }
  for (size_t i : {size_t{0}, L.info_starts.size() / 2, L.info_starts.size() - 1}) {
    const size_t next = i + 1 < L.info_starts.size() ? L.info_starts[i + 1] : L.infos_end;
    cuts.push_back(L.info_starts[i] + 5);
    cuts.push_back(L.info_starts[i] + 9);
    cuts.push_back(L.type_fields[i] - 3);
    cuts.push_back(L.type_fields[i] + 2);
    cuts.push_back(next - 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

// ---------------------------------------------------------------------------------------------
// The fixture: one tiny model per test process, a fresh scratch directory per test.

RunResult generate(const std::string& model, const std::string& ids = "1,2") {
  return run_r1({"generate", "--model", model, "--prompt-ids", ids, "--max-new-tokens", "3"});
}

// Checks a successful generate: status 0, one JSON line on stdout, progress (no error) on stderr.
void expect_generates(const std::string& model, const std::string& ids = "1,2") {
  const RunResult r = generate(model, ids);
  ASSERT_FALSE(r.timed_out || r.signal != 0 || r.exit_code != 0) << describe(r);
  EXPECT_EQ(r.err.find("error"), std::string::npos) << describe(r);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << describe(r);
  ASSERT_EQ(r.out.back(), '\n') << describe(r);
  const json j = json::parse(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_TRUE(j.at("token_ids").is_array()) << r.out;
  EXPECT_FALSE(j.at("token_ids").empty()) << r.out;
}

class CliBadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = (fs::path(R1_TEST_TMP) / ("cli_bad_input." + std::to_string(getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string run = root_ + "/tiny_run";
    const RunResult r = run_r1(tiny_pretrain_args(run));
    if (r.timed_out || r.signal != 0 || r.exit_code != 0 || !fs::exists(run + "/model/model.safetensors")) {
      tiny_error_ = "could not create the tiny model with r1 pretrain\n" + describe(r);
      return;
    }
    tiny_ = run + "/model";
    tiny_config_ = json::parse(read_bytes(tiny_ + "/config.json"));
    tiny_tensors_ = parse_safetensors(read_bytes(tiny_ + "/model.safetensors"));
  }

  static void TearDownTestSuite() {
    // Keep the files for a look when something failed.
    if (::testing::UnitTest::GetInstance()->failed_test_count() == 0) {
      std::error_code ec;
      fs::remove_all(root_, ec);
    } else {
      std::printf("CliBadInput: scratch files kept in %s\n", root_.c_str());
    }
  }

  static std::vector<std::string> tiny_pretrain_args(const std::string& out_dir) {
    return {"pretrain",
            "--set",
            "output.dir=" + out_dir,
            "--set",
            "train.steps=1",
            "--set",
            "train.threads=1",
            "--set",
            "train.batch_tokens=256",
            "--set",
            "data.seq_len=32",
            "--set",
            "data.builtin_docs=200",
            "--set",
            "model.num_layers=1",
            "--set",
            "model.hidden_size=32",
            "--set",
            "model.intermediate_size=64",
            "--set",
            "model.num_heads=2",
            "--set",
            "model.num_kv_heads=1",
            "--set",
            "model.head_dim=16"};
  }

  void SetUp() override {
    ASSERT_FALSE(tiny_.empty()) << tiny_error_;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = root_ + "/" + info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  // A model directory dir_/name: the tiny model's tokenizer and generation config, with the
  // given config.json text and model.safetensors bytes (the tiny model's own when absent).
  std::string model_dir(const std::string& name, const std::optional<std::string>& safetensors = std::nullopt,
                        const std::optional<std::string>& config_text = std::nullopt) const {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    for (const char* f : {"tokenizer.json", "generation_config.json"})
      fs::copy_file(tiny_ + "/" + f, d + "/" + f);
    write_bytes(d + "/config.json", config_text.value_or(tiny_config_.dump(2)));
    write_bytes(d + "/model.safetensors", safetensors.value_or(read_bytes(tiny_ + "/model.safetensors")));
    return d;
  }
  std::string model_dir_with_config(const std::string& name, const json& cfg) const {
    return model_dir(name, std::nullopt, cfg.dump(2));
  }

  std::string tiny_gguf(const std::string& name) const {
    const std::string p = dir_ + "/" + name;
    write_bytes(p, build_gguf(tiny_tensors_, tiny_config_));
    return p;
  }

  // A fine-tuning recipe for the tiny model; extra TOML lines go into [train].
  std::string sft_recipe(const std::string& name, const std::string& data_path,
                         const std::string& extra_train = "") const {
    const std::string p = dir_ + "/" + name;
    write_bytes(p, "[model]\npath = " + toml_str(tiny_) + "\n\n[data]\npath = " + toml_str(data_path) +
                       "\nseq_len = 32\n\n[train]\nsteps = 1\nbatch_tokens = 64\nlr = 1e-3\nthreads = 1\n" +
                       extra_train + "\n[output]\ndir = " + toml_str(dir_ + "/sft_run") + "\n");
    return p;
  }

  static const StTensor& tensor(const std::string& name) {
    for (const auto& t : tiny_tensors_)
      if (t.name == name) return t;
    throw std::runtime_error("tiny model has no tensor " + name);
  }

  static inline std::string root_, tiny_, tiny_error_;
  static inline json tiny_config_;
  static inline std::vector<StTensor> tiny_tensors_;
  std::string dir_;
};

const std::string kEmbed = "model.embed_tokens.weight";
const std::string kGate = "model.layers.0.mlp.gate_proj.weight";
const std::string kNorm1 = "model.layers.0.input_layernorm.weight";
const std::string kNorm2 = "model.layers.0.post_attention_layernorm.weight";

// ---------------------------------------------------------------------------------------------
// The helper and the writers themselves: valid input succeeds.

TEST_F(CliBadInput, ValidTinyModelGenerates) {
  const RunResult r = generate(tiny_);
  ASSERT_FALSE(r.timed_out || r.signal != 0 || r.exit_code != 0) << describe(r);
  EXPECT_NE(r.err.find("generate: 1 samples, 2 prompt tokens"), std::string::npos) << describe(r);
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << describe(r);
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("prompt_index"), 0);
  EXPECT_EQ(j.at("sample_index"), 0);
  EXPECT_EQ(j.at("logprobs").size(), j.at("token_ids").size());
  EXPECT_GE(j.at("token_ids").size(), 1u);
  EXPECT_LE(j.at("token_ids").size(), 3u);
  EXPECT_TRUE(j.at("text").is_string()) << r.out;  // the byte tokenizer was found
  const std::string reason = j.at("finish_reason").get<std::string>();
  EXPECT_TRUE(reason == "stop" || reason == "length") << reason;
}

TEST_F(CliBadInput, HelperSeesSignalsAndErrors) {
  // A clean failure the helper must accept, and the same checks refuse a success.
  const RunResult missing = generate(dir_ + "/nope");
  EXPECT_TRUE(IsOneLineError(missing, {"nope"}));
  EXPECT_FALSE(IsOneLineError(generate(tiny_), {}));
  // A process killed by a signal is reported as such, not as an exit status.
  const RunResult killed = run_r1({"pretrain",
                                   "--set",
                                   "output.dir=" + dir_ + "/sig",
                                   "--set",
                                   "train.steps=1000000",
                                   "--set",
                                   "train.threads=1",
                                   "--set",
                                   "data.builtin_docs=50",
                                   "--set",
                                   "model.num_layers=1",
                                   "--set",
                                   "model.hidden_size=32",
                                   "--set",
                                   "model.intermediate_size=64",
                                   "--set",
                                   "model.num_heads=2",
                                   "--set",
                                   "model.num_kv_heads=1",
                                   "--set",
                                   "model.head_dim=16"},
                                  /*timeout_s=*/1);
  EXPECT_TRUE(killed.timed_out);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_FALSE(IsOneLineError(killed, {}));
}

TEST_F(CliBadInput, RewrittenSafetensorsAndBuiltGgufLoad) {
  // The test's own writers produce files r1 accepts, so the corrupt variants below fail only
  // for their corruption.
  expect_generates(model_dir("rewritten", StFile(tiny_tensors_).bytes()));
  expect_generates(tiny_gguf("tiny.gguf"));
}

// ---------------------------------------------------------------------------------------------
// 1-7: safetensors.

TEST_F(CliBadInput, TruncatedSafetensors) {
  const std::string full = StFile(tiny_tensors_).bytes();
  uint64_t h = 0;
  std::memcpy(&h, full.data(), 8);
  const size_t data_start = 8 + h, size = full.size();
  struct Cut {
    size_t at;
    std::vector<std::string> phrase;
  };
  const std::vector<Cut> cuts = {
      {0, {"too short", "0 bytes"}},
      {3, {"too short", "3 bytes"}},
      {7, {"too short"}},
      {8, {"header length", "exceeds the file size"}},
      {8 + h / 2, {"header length", "exceeds the file size"}},
      {data_start - 1, {"header length", "exceeds the file size"}},
      {data_start, {"exceeds the data section"}},
      {data_start + 1, {"exceeds the data section"}},
      {data_start + (size - data_start) / 2, {"exceeds the data section"}},
      {size - 1, {"exceeds the data section"}},
  };
  for (const Cut& c : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(c.at) + " of " + std::to_string(size));
    const std::string d = model_dir("cut" + std::to_string(c.at), full.substr(0, c.at));
    std::vector<std::string> needles = c.phrase;
    needles.push_back(d + "/model.safetensors");
    EXPECT_TRUE(IsOneLineError(generate(d), needles));
  }
}

TEST_F(CliBadInput, HeaderLengthBeyondEndOfFile) {
  const StFile st(tiny_tensors_);
  const uint64_t size = st.bytes().size();
  for (uint64_t len : {size - 8 + 1, size, uint64_t{1} << 32, uint64_t{1} << 63, ~uint64_t{0}}) {
    SCOPED_TRACE("header length " + std::to_string(len));
    const std::string d = model_dir("len" + std::to_string(len), st.bytes(len));
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", "header length " + std::to_string(len),
                                             "exceeds the file size"}));
  }
  // A length inside the file that does not end at the JSON's end: not valid JSON.
  const std::string d = model_dir("short_len", st.bytes(st.header_text().size() / 2));
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", "header is not valid JSON"}));
}

TEST_F(CliBadInput, DataOffsetsOutOfRange) {
  const StFile base(tiny_tensors_);
  const uint64_t data_size = base.data.size(), n = base.end(kGate) - base.begin(kGate);
  struct Case {
    std::string label;
    uint64_t begin, end;
    std::string phrase;
  };
  const std::vector<Case> cases = {
      {"past_end", data_size - n + 4, data_size + 4,
       "exceeds the data section (" + std::to_string(data_size) + " bytes)"},
      {"far_past_end", uint64_t{1} << 40, (uint64_t{1} << 40) + n, "exceeds the data section"},
      {"max_end", ~uint64_t{0} - n, ~uint64_t{0}, "exceeds the data section"},
      {"reversed", 64, 32, "begin > end"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    StFile st = base;
    st[kGate]["data_offsets"] = {c.begin, c.end};
    const std::string d = model_dir(c.label, st.bytes());
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", kGate, c.phrase}));
  }
}

TEST_F(CliBadInput, OverlappingDataOffsets) {
  const StFile base(tiny_tensors_);
  ASSERT_EQ(tensor(kNorm1).bytes.size(), tensor(kNorm2).bytes.size());
  const uint64_t n = tensor(kNorm1).bytes.size();
  for (uint64_t shift : {uint64_t{0}, uint64_t{4}, n / 2, n - 4}) {
    SCOPED_TRACE("shift " + std::to_string(shift));
    StFile st = base;
    const uint64_t b = st.begin(kNorm1) + shift;
    st[kNorm2]["data_offsets"] = {b, b + n};
    const std::string d = model_dir("shift" + std::to_string(shift), st.bytes());
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", "overlaps", kNorm1, kNorm2}));
  }
}

TEST_F(CliBadInput, DtypeDisagreesWithDataSize) {
  for (const std::string dtype : {"F16", "BF16", "F64", "I8"}) {
    SCOPED_TRACE(dtype);
    StFile st(tiny_tensors_);
    st[kEmbed]["dtype"] = dtype;
    const std::string d = model_dir("dtype_" + dtype, st.bytes());
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", kEmbed,
                                             std::to_string(tensor(kEmbed).bytes.size()) + " bytes of data",
                                             "of " + dtype + " needs"}));
  }
  // A dtype whose size matches the data but that r1 cannot load.
  StFile st(tiny_tensors_);
  st[kEmbed]["dtype"] = "I32";
  std::string d = model_dir("dtype_I32", st.bytes());
  EXPECT_TRUE(
      IsOneLineError(generate(d), {d + "/model.safetensors", kEmbed, "dtype I32", "only F32, F16 and BF16"}));
  // A dtype no safetensors writer knows.
  st[kEmbed]["dtype"] = "F13";
  d = model_dir("dtype_F13", st.bytes());
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", kEmbed, "unknown dtype 'F13'"}));
}

TEST_F(CliBadInput, TensorShapeDisagreesWithConfig) {
  const auto shape = tensor(kGate).shape;  // [intermediate, hidden]
  ASSERT_EQ(shape, (std::vector<int64_t>{64, 32}));
  for (const std::vector<int64_t>& bad :
       {std::vector<int64_t>{32, 64}, std::vector<int64_t>{2048}, std::vector<int64_t>{2, 32, 32}}) {
    StFile st(tiny_tensors_);
    st[kGate]["shape"] = bad;  // same byte size
    const std::string shown = json(bad).dump();
    SCOPED_TRACE(shown);
    const std::string d =
        model_dir("shape" + std::to_string(bad.size()) + "_" + std::to_string(bad[0]), st.bytes());
    std::string want = "[";
    for (size_t i = 0; i < bad.size(); ++i) want += (i ? ", " : "") + std::to_string(bad[i]);
    want += "]";
    EXPECT_TRUE(IsOneLineError(
        generate(d), {d + "/model.safetensors", kGate, "has shape " + want, "config.json implies [64, 32]"}));
  }
}

TEST_F(CliBadInput, ConfigHiddenSizeDisagreesWithTensors) {
  json cfg = tiny_config_;
  cfg["hidden_size"] = 48;
  const std::string d = model_dir_with_config("hidden48", cfg);
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/model.safetensors", kEmbed, "has shape [259, 32]",
                                           "config.json implies [259, 48]"}));
  cfg = tiny_config_;
  cfg["intermediate_size"] = 96;
  const std::string d2 = model_dir_with_config("inter96", cfg);
  EXPECT_TRUE(
      IsOneLineError(generate(d2), {d2 + "/model.safetensors", kGate, "config.json implies [96, 32]"}));
}

TEST_F(CliBadInput, MissingTensor) {
  for (const std::string& gone : {kEmbed, kGate, std::string("model.norm.weight")}) {
    SCOPED_TRACE(gone);
    std::vector<StTensor> ts;
    for (const auto& t : tiny_tensors_)
      if (t.name != gone) ts.push_back(t);
    const std::string d = model_dir("without_" + gone, StFile(ts).bytes());
    EXPECT_TRUE(IsOneLineError(generate(d), {d, "missing tensor '" + gone + "'"}));
  }
}

TEST_F(CliBadInput, UnexpectedExtraTensor) {
  for (const std::string extra : {"model.layers.1.input_layernorm.weight",
                                  "model.layers.0.self_attn.q_norm.weight", "some.other.weight"}) {
    SCOPED_TRACE(extra);
    StFile st(tiny_tensors_);
    st.add({extra, "F32", {32}, std::string(128, '\0')});
    const std::string d = model_dir("extra_" + extra, st.bytes());
    EXPECT_TRUE(IsOneLineError(
        generate(d), {d + "/model.safetensors", "unexpected tensor '" + extra + "'", "LlamaForCausalLM"}));
  }
}

// ---------------------------------------------------------------------------------------------
// 8: config.json.

TEST_F(CliBadInput, ConfigUnknownArchitecture) {
  json cfg = tiny_config_;
  cfg["architectures"] = {"GPT2LMHeadModel"};
  cfg["model_type"] = "gpt2";
  const std::string d = model_dir_with_config("gpt2", cfg);
  EXPECT_TRUE(
      IsOneLineError(generate(d), {d + "/config.json", "unsupported architecture 'GPT2LMHeadModel'"}));
}

TEST_F(CliBadInput, ConfigMalformedJson) {
  const std::string text = tiny_config_.dump(2);
  for (size_t cut : {size_t{0}, size_t{1}, text.size() / 2, text.size() - 1}) {
    SCOPED_TRACE("config.json cut at " + std::to_string(cut));
    const std::string d = model_dir("cut" + std::to_string(cut), std::nullopt, text.substr(0, cut));
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "malformed JSON"}));
  }
  const std::string d = model_dir("not_an_object", std::nullopt, "[1, 2, 3]\n");
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "expected a JSON object"}));
  // Well-formed JSON whose number does not fit a double is refused by the parser too.
  std::string text2 = text;
  text2.insert(text2.rfind('}'), ", \"rope_theta\": 1e400");
  text2.erase(text2.find("\"rope_theta\": 10000.0,"), std::string("\"rope_theta\": 10000.0,").size());
  const std::string d2 = model_dir("number_overflow", std::nullopt, text2);
  EXPECT_TRUE(IsOneLineError(generate(d2), {d2 + "/config.json", "malformed JSON", "number overflow"}));
}

TEST_F(CliBadInput, ConfigRopeScalingYarn) {
  json cfg = tiny_config_;
  cfg["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  std::string d = model_dir_with_config("yarn_type", cfg);
  EXPECT_TRUE(
      IsOneLineError(generate(d), {d + "/config.json", "rope_scaling of type 'yarn' is not implemented"}));
  cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  d = model_dir_with_config("yarn_rope_type", cfg);
  EXPECT_TRUE(
      IsOneLineError(generate(d), {d + "/config.json", "rope_scaling of type 'yarn' is not implemented"}));
}

TEST_F(CliBadInput, ConfigUseSlidingWindow) {
  json cfg = tiny_config_;
  cfg["use_sliding_window"] = true;
  cfg["sliding_window"] = 16;
  const std::string d = model_dir_with_config("swa", cfg);
  EXPECT_TRUE(
      IsOneLineError(generate(d), {d + "/config.json", "sliding-window attention", "not implemented"}));
}

TEST_F(CliBadInput, ConfigHeadsNotMultipleOfKvHeads) {
  json cfg = tiny_config_;
  cfg["num_attention_heads"] = 3;
  cfg["num_key_value_heads"] = 2;
  const std::string d = model_dir_with_config("heads3kv2", cfg);
  EXPECT_TRUE(IsOneLineError(
      generate(d),
      {d + "/config.json", "num_attention_heads (3) must be a multiple of num_key_value_heads (2)"}));
}

TEST_F(CliBadInput, ConfigMissingHiddenSize) {
  json cfg = tiny_config_;
  cfg.erase("hidden_size");
  std::string d = model_dir_with_config("no_hidden", cfg);
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "missing field 'hidden_size'"}));
  cfg = tiny_config_;
  cfg["hidden_size"] = nullptr;
  d = model_dir_with_config("null_hidden", cfg);
  EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "missing field 'hidden_size'"}));
}

TEST_F(CliBadInput, ConfigStringWhereNumberBelongs) {
  struct Case {
    std::string field;
    json value;
    std::string phrase;
  };
  const std::vector<Case> cases = {
      {"hidden_size", "32", "field 'hidden_size' must be an integer, got \"32\""},
      {"vocab_size", 259.5, "field 'vocab_size' must be an integer, got 259.5"},
      {"rms_norm_eps", "1e-5", "field 'rms_norm_eps' must be a number, got \"1e-5\""},
      {"tie_word_embeddings", "true", "field 'tie_word_embeddings' must be a boolean"},
      {"eos_token_id", "257", "field 'eos_token_id' must be a token id or a list of them"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    json cfg = tiny_config_;
    cfg[c.field] = c.value;
    const std::string d = model_dir_with_config("bad_" + c.field, cfg);
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", c.phrase}));
  }
}

TEST_F(CliBadInput, ConfigIntegerOutOfRange) {
  // Values past int's range must not wrap (2^32 + 32 would otherwise read as 32).
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, json>>{{"hidden_size", uint64_t{4294967328}},
                                                 {"vocab_size", uint64_t{4294967555}},
                                                 {"num_attention_heads", int64_t{-4294967294}},
                                                 {"head_dim", uint64_t{18446744073709551615u}},
                                                 {"bos_token_id", int64_t{-4294967296}}}) {
    SCOPED_TRACE(field);
    json cfg = tiny_config_;
    cfg[field] = value;
    const std::string d = model_dir_with_config("big_" + field, cfg);
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "field '" + field + "' is out of range"}));
  }
}

// ---------------------------------------------------------------------------------------------
// 9: GGUF.

TEST_F(CliBadInput, GgufBadMagic) {
  std::string bytes = build_gguf(tiny_tensors_, tiny_config_);
  for (const std::string& magic : std::vector<std::string>{"GGUX", "FUGG", std::string("\0\0\0\0", 4)}) {
    bytes.replace(0, 4, magic);
    const std::string p = dir_ + "/magic" + std::to_string(magic[0]) + ".gguf";
    write_bytes(p, bytes);
    EXPECT_TRUE(IsOneLineError(generate(p), {p, "not a GGUF file (bad magic)"}));
  }
  const std::string empty = dir_ + "/empty.gguf";
  write_bytes(empty, "");
  EXPECT_TRUE(IsOneLineError(generate(empty), {empty, "bad magic"}));
  // A safetensors file given a .gguf name.
  const std::string st = dir_ + "/really_safetensors.gguf";
  write_bytes(st, StFile(tiny_tensors_).bytes());
  EXPECT_TRUE(IsOneLineError(generate(st), {st, "bad magic"}));
}

TEST_F(CliBadInput, GgufTruncatedMetadataAndTensorInfos) {
  const std::string full = build_gguf(tiny_tensors_, tiny_config_);
  const GgufLayout L = parse_gguf_layout(full);
  ASSERT_EQ(L.keys.size(), 13u);
  ASSERT_EQ(L.names.size(), tiny_tensors_.size());
  for (size_t cut : gguf_cuts_in_header(L)) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    const std::string p = dir_ + "/cut" + std::to_string(cut) + ".gguf";
    write_bytes(p, full.substr(0, cut));
    EXPECT_TRUE(IsOneLineError(generate(p), {p, "truncated"}));
  }
  // Cut inside the data section: the tensor infos are whole but point past the end.
  for (size_t cut : {L.infos_end, full.size() - 1, (L.infos_end + full.size()) / 2}) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    const std::string p = dir_ + "/datacut" + std::to_string(cut) + ".gguf";
    write_bytes(p, full.substr(0, cut));
    EXPECT_TRUE(IsOneLineError(generate(p), {p, "exceeds the data section"}));
  }
}

TEST_F(CliBadInput, GgufTruncatedStories260K) {
  const std::string src = r1::testing::shared_path("models/stories260K/stories260K.gguf");
  R1_SKIP_UNLESS_SHARED(src);
  const std::string full = read_bytes(src);
  const GgufLayout L = parse_gguf_layout(full);
  ASSERT_GT(L.keys.size(), 0u);
  ASSERT_GT(L.names.size(), 0u);
  // The real file first loads as it is.
  expect_generates(src, "1");
  std::vector<size_t> cuts = gguf_cuts_in_header(L);
  for (size_t cut : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    const std::string p = dir_ + "/stories_cut" + std::to_string(cut) + ".gguf";
    write_bytes(p, full.substr(0, cut));
    EXPECT_TRUE(IsOneLineError(generate(p, "1"), {p, "truncated"}));
    fs::remove(p);
  }
}

// Sets tensor info `i`'s ggml type to Q4_0 (2) and expects r1 to name the quantised type.
void expect_q4_0_refused(const std::string& original, const std::string& path, const std::string& ids) {
  const GgufLayout L = parse_gguf_layout(original);
  size_t i = 0;
  while (i < L.ne.size() && (L.ne[i].empty() || L.ne[i][0] % 32 != 0))
    ++i;  // Q4_0 rows are 32-element blocks
  ASSERT_LT(i, L.ne.size()) << "no tensor with a row length that is a multiple of 32";
  std::string bytes = original;
  const uint32_t q4_0 = 2;
  std::memcpy(bytes.data() + L.type_fields[i], &q4_0, 4);
  write_bytes(path, bytes);
  SCOPED_TRACE("patched tensor " + L.names[i]);
  EXPECT_TRUE(IsOneLineError(
      generate(path, ids), {path, "'" + L.names[i] + "'", "quantised type Q4_0", "only F32, F16 and BF16"}));
}

TEST_F(CliBadInput, GgufQuantisedTensorType) {
  expect_q4_0_refused(build_gguf(tiny_tensors_, tiny_config_), dir_ + "/q4_0.gguf", "1,2");
}

TEST_F(CliBadInput, GgufQuantisedTensorTypeStories260K) {
  const std::string src = r1::testing::shared_path("models/stories260K/stories260K.gguf");
  R1_SKIP_UNLESS_SHARED(src);
  expect_q4_0_refused(read_bytes(src), dir_ + "/stories_q4_0.gguf", "1");
}

// ---------------------------------------------------------------------------------------------
// 10: model paths.

TEST_F(CliBadInput, ModelPathDoesNotExist) {
  const std::string p = dir_ + "/no/such/model";
  EXPECT_TRUE(IsOneLineError(generate(p), {p, "no such file or directory"}));
  const std::string g = dir_ + "/missing.gguf";
  EXPECT_TRUE(IsOneLineError(generate(g), {g, "no such file or directory"}));
}

TEST_F(CliBadInput, DirectoryWithoutConfigJson) {
  const std::string empty = dir_ + "/empty";
  fs::create_directories(empty);
  EXPECT_TRUE(IsOneLineError(generate(empty), {empty, "no config.json"}));
  // Weights but no config.json.
  const std::string d = model_dir("weights_only");
  fs::remove(d + "/config.json");
  EXPECT_TRUE(IsOneLineError(generate(d), {d, "no config.json"}));
  // config.json but no weights.
  const std::string c = model_dir("config_only");
  fs::remove(c + "/model.safetensors");
  EXPECT_TRUE(IsOneLineError(generate(c), {c, "neither model.safetensors nor model.safetensors.index.json"}));
  // A regular file that is not a .gguf.
  const std::string f = dir_ + "/model.bin";
  write_bytes(f, "not a model");
  EXPECT_TRUE(IsOneLineError(generate(f), {f, "expected a model directory or a .gguf file"}));
}

// ---------------------------------------------------------------------------------------------
// 11: --prompt-ids.

TEST_F(CliBadInput, PromptIdsNotANumber) {
  for (const auto& [ids, item] :
       std::vector<std::pair<std::string, std::string>>{{"1,x,3", "x"},
                                                        {"abc", "abc"},
                                                        {"1,,2", ""},
                                                        {",1", ""},
                                                        {"-1", "-1"},
                                                        {"1.5", "1.5"},
                                                        {"1 2", "1 2"},
                                                        {"0x10", "0x10"},
                                                        {"99999999999", "99999999999"},
                                                        {"2147483648", "2147483648"}}) {
    SCOPED_TRACE("--prompt-ids " + ids);
    EXPECT_TRUE(IsOneLineError(generate(tiny_, ids), {"--prompt-ids", "'" + item + "' is not a token id"}));
  }
}

TEST_F(CliBadInput, PromptIdOutsideVocabulary) {
  const int vocab = tiny_config_.at("vocab_size").get<int>();
  for (const std::string& ids :
       std::vector<std::string>{std::to_string(vocab), "1," + std::to_string(vocab + 1000), "2147483647"}) {
    SCOPED_TRACE("--prompt-ids " + ids);
    EXPECT_TRUE(IsOneLineError(generate(tiny_, ids), {"prompt token id", "is outside the vocabulary (size " +
                                                                             std::to_string(vocab) + ")"}));
  }
  // The same check for a GGUF model.
  const std::string g = tiny_gguf("tiny.gguf");
  EXPECT_TRUE(IsOneLineError(generate(g, std::to_string(vocab)),
                             {"prompt token id " + std::to_string(vocab), "outside the vocabulary"}));
  // And an empty prompt.
  EXPECT_TRUE(IsOneLineError(generate(tiny_, ""), {"--prompt-ids", "is not a token id"}));
}

// ---------------------------------------------------------------------------------------------
// 12: sft / pretrain recipes and data.

TEST_F(CliBadInput, SftRecipeBaselineRuns) {
  // The recipe the cases below break runs as written.
  const std::string data = dir_ + "/ok.jsonl";
  write_bytes(data,
              "{\"prompt\":\"1+1=\",\"completion\":\"2\"}\n{\"prompt\":\"2+2=\",\"completion\":\"4\"}\n");
  const RunResult r = run_r1({"sft", sft_recipe("ok.toml", data)});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.signal, 0) << describe(r);
  EXPECT_TRUE(fs::exists(dir_ + "/sft_run/model/model.safetensors")) << describe(r);
}

TEST_F(CliBadInput, SftMalformedJsonlNamesLine) {
  const std::string data = dir_ + "/bad.jsonl";
  write_bytes(data,
              "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"c\",\"completion\":\"d\"}\n"
              "{\"prompt\": oops, \"completion\": \"e\"}\n{\"prompt\":\"f\",\"completion\":\"g\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}), {data + ":3:", "malformed JSON"}));
  // A truncated last line (no closing brace) and a row that is not an object.
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n\n{\"prompt\":\"c\",\"comp");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}), {data + ":3:", "malformed JSON"}));
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n[\"c\", \"d\"]\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}), {data + ":2:", "expected a JSON object"}));
  // A number too large for a double.
  write_bytes(
      data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"c\",\"completion\":\"d\",\"w\":1e400}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}),
                             {data + ":2:", "malformed JSON", "number overflow"}));
}

TEST_F(CliBadInput, SftRowMissingPromptField) {
  const std::string data = dir_ + "/missing.jsonl";
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"question\":\"c\",\"completion\":\"d\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}),
                             {data + ":2:", "field 'prompt' is missing"}));
  // The field name comes from the recipe when set there.
  write_bytes(data, "{\"question\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"c\",\"completion\":\"d\"}\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.prompt_field=question"}),
                     {data + ":2:", "field 'question' is missing"}));
}

TEST_F(CliBadInput, SftConversationRowsNameTheLineAndMessage) {
  const std::string data = dir_ + "/chat.jsonl";
  const std::string ok =
      R"({"messages": [{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "<think>\n1+1\n</think>\n\n2"}]})"
      "\n";
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"({"messages": [{"role": "robot", "content": "a"}, {"role": "assistant", "content": "b"}]})",
       {data + ":2: field 'messages' message 1", "unknown role 'robot'"}},
      {R"({"messages": [{"role": "user"}, {"role": "assistant", "content": "b"}]})",
       {data + ":2: field 'messages' message 1", "'content' is missing"}},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": 7}]})",
       {data + ":2: field 'messages' message 2", "'content' must be a string, got number"}},
      {R"({"messages": [{"role": "user", "content": "a"}]})",
       {data + ":2: field 'messages'", "no assistant message"}},
      {R"({"messages": "hello"})", {data + ":2: field 'messages'", "expected a list"}},
      {R"({"prompt": [{"role": "user", "content": "a"}], "completion": 3})",
       {data + ":2:", "field 'completion' must be a string or a list of messages"}},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "tools": 1})",
       {data + ":2: field 'messages'", "field 'tools' must be a list of tools"}},
  };
  for (const auto& [row, want] : cases) {
    write_bytes(data, ok + row + "\n");
    const RunResult r = run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=distill"});
    EXPECT_TRUE(IsOneLineError(r, want)) << row;
    EXPECT_FALSE(fs::exists(dir_ + "/sft_run")) << "nothing is written before the data is checked";
  }
  // The tiny model has no chat template of its own.
  write_bytes(data, ok);
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}),
                             {data + ":1: field 'messages'", "needs a chat template", "data.template"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=nope.json"}),
                             {"data.template", "nope.json"}));
  // The run's length is steps or epochs, not both; eval_every needs a held-out set.
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=distill",
                                     "--set", "train.epochs=2"}),
                             {"set either train.steps or train.epochs", "not both"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=distill",
                                     "--set", "train.eval_every=2"}),
                             {"train.eval_every needs a held-out set"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=distill",
                                     "--set", "data.eval_rows=1", "--set", "data.seq_len=256"}),
                             {"data.eval_rows = 1 leaves nothing to train on"}));
  EXPECT_FALSE(fs::exists(dir_ + "/sft_run"));
  // At seq_len 32 the distill format's prompt leaves nothing of the answer; at 256 the row trains.
  EXPECT_TRUE(IsOneLineError(
      run_r1({"sft", sft_recipe("r.toml", data), "--set", "data.template=distill"}),
      {data, "no training examples (1 sequences, none with anything to train within data.seq_len 32"}));
  const RunResult r = run_r1(
      {"sft", sft_recipe("r.toml", data), "--set", "data.template=distill", "--set", "data.seq_len=256"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST_F(CliBadInput, SftFieldOfWrongType) {
  const std::string data = dir_ + "/types.jsonl";
  write_bytes(data,
              "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"c\",\"completion\":\"d\"}\n"
              "{\"prompt\":\"e\",\"completion\":[\"f\"]}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}),
                             {data + ":3:", "field 'completion' must be a string, got array"}));
  write_bytes(data, "{\"prompt\":5,\"completion\":\"b\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data)}),
                             {data + ":1:", "field 'prompt' must be a string, got number"}));
  // pretrain reads the text field the same way.
  write_bytes(data, "{\"text\":\"hello\"}\n{\"text\":null}\n");
  EXPECT_TRUE(IsOneLineError(
      run_r1({"pretrain", "--set", "data.path=" + data, "--set", "output.dir=" + dir_ + "/pre", "--set",
              "train.steps=1", "--set", "model.num_layers=1", "--set", "model.hidden_size=32", "--set",
              "model.intermediate_size=64", "--set", "model.num_heads=2", "--set", "model.num_kv_heads=1",
              "--set", "model.head_dim=16"}),
      {data + ":2:", "field 'text' must be a string, got null"}));
}

TEST_F(CliBadInput, RecipeUnknownKeySuggestsTheRightOne) {
  const std::string data = dir_ + "/ok.jsonl";
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n");
  // In the recipe file.
  const std::string recipe = dir_ + "/typo.toml";
  write_bytes(recipe, "[model]\npath = " + toml_str(tiny_) + "\n[data]\npath = " + toml_str(data) +
                          "\n[trian]\nlr = 1e-3\n[output]\ndir = " + toml_str(dir_ + "/run") + "\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", recipe}),
                             {recipe, "unknown key 'trian.lr'", "did you mean 'train.lr'?"}));
  // In an override.
  const std::string ok = sft_recipe("ok.toml", data);
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", ok, "--set", "trian.lr=1e-3"}),
                             {ok, "unknown key 'trian.lr'", "did you mean 'train.lr'?"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", "--set", "train.learning_rate=1e-3"}),
                             {"unknown key 'train.learning_rate'"}));
}

TEST_F(CliBadInput, RecipeTomlSyntaxError) {
  const std::string recipe = dir_ + "/broken.toml";
  write_bytes(recipe, "[model]\npath = " + toml_str(tiny_) + "\n[train]\nsteps = = 1\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", recipe}), {recipe + ":4:"}));
  write_bytes(recipe, "[model\npath = \"x\"\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", recipe}), {recipe + ":1:"}));
  write_bytes(recipe, "[train]\nlr = 1e-3\nlr = 2e-3\n");  // a key defined twice
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", recipe}), {recipe + ":3:"}));
  // A recipe that does not exist.
  EXPECT_TRUE(
      IsOneLineError(run_r1({"sft", dir_ + "/nope.toml"}), {dir_ + "/nope.toml", "cannot open recipe"}));
}

TEST_F(CliBadInput, SetWithoutEquals) {
  EXPECT_TRUE(
      IsOneLineError(run_r1({"pretrain", "--set", "train.lr"}), {"override 'train.lr'", "missing '='"}));
  const std::string data = dir_ + "/ok.jsonl";
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n");
  EXPECT_TRUE(
      IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "train.steps", "--set", "x=1"}),
                     {"override 'train.steps'", "missing '='"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", "--set", "=3"}), {"override '=3'", "empty key"}));
}

TEST_F(CliBadInput, ResumeDirectoryWithoutRun) {
  const std::string empty = dir_ + "/no_run";
  fs::create_directories(empty);
  // With a recipe: the directory holds no train state.
  const std::string data = dir_ + "/ok.jsonl";
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n");
  const std::string recipe = sft_recipe("r.toml", data);
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", recipe, "--resume", empty}), {empty, "nothing to resume"}));
  // Without one, the recipe is read from the run directory, which has none.
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", "--resume", empty}), {empty, "nothing to resume"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"pretrain", "--resume", dir_ + "/absent"}),
                             {dir_ + "/absent", "nothing to resume"}));
  // A run directory with its recipe but no state (a run stopped before its first save).
  write_bytes(empty + "/recipe.toml", read_bytes(recipe));
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", "--resume", empty}), {empty, "nothing to resume"}));
}

TEST_F(CliBadInput, RunDirectoryAlreadyHoldsRun) {
  const std::string run = dir_ + "/run";
  const RunResult first = run_r1(tiny_pretrain_args(run));
  ASSERT_EQ(first.exit_code, 0) << describe(first);
  const std::string state = read_bytes(run + "/state.safetensors");
  // pretrain's built-in recipe overwrites by default; output.overwrite=false refuses.
  std::vector<std::string> again = tiny_pretrain_args(run);
  again.insert(again.end(), {"--set", "output.overwrite=false"});
  EXPECT_TRUE(
      IsOneLineError(run_r1(again), {run, "already holds a run", "--resume", "output.overwrite=true"}));
  // An sft recipe without output.overwrite refuses too.
  const std::string data = dir_ + "/ok.jsonl";
  write_bytes(data, "{\"prompt\":\"a\",\"completion\":\"b\"}\n");
  EXPECT_TRUE(IsOneLineError(run_r1({"sft", sft_recipe("r.toml", data), "--set", "output.dir=" + run}),
                             {run, "already holds a run"}));
  // The run is untouched.
  EXPECT_EQ(read_bytes(run + "/state.safetensors"), state);
}

// ---------------------------------------------------------------------------------------------
// Narrowing and usage cases (each once a bug).

// config.json values out of range: rms_norm_eps 1e300 would become inf through the float
// conversion, and eos_token_id 2^32 + 2 would wrap to 2.
TEST_F(CliBadInput, ConfigNarrowedValues) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"rms_norm_eps", 1e300}, {"eos_token_id", uint64_t{4294967298}}}) {
    SCOPED_TRACE(field);
    json cfg = tiny_config_;
    cfg[field] = value;
    const std::string d = model_dir_with_config("narrow_" + field, cfg);
    EXPECT_TRUE(IsOneLineError(generate(d), {d + "/config.json", "'" + field + "'"}));
  }
}

// GGUF numbers out of int range: a u64 embedding_length of 2^32 + 32 must not load as 32, and an
// f32 context_length of 1e30 must not reach an undefined float-to-int conversion.
TEST_F(CliBadInput, GgufIntegerOutOfRange) {
  const std::vector<std::pair<std::string, GgufValue>> cases = {
      {"llama.embedding_length", gguf_value<uint64_t>(10, uint64_t{4294967328})},
      {"llama.attention.head_count", gguf_value<uint64_t>(10, uint64_t{4294967298})},
      {"llama.context_length", gguf_value<float>(6, 1e30f)},
      {"tokenizer.ggml.eos_token_id", gguf_value<double>(12, 1e20)},
  };
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key);
    const std::string p = dir_ + "/" + key + ".gguf";
    write_bytes(p, build_gguf(tiny_tensors_, tiny_config_, {{key, value}}));
    EXPECT_TRUE(IsOneLineError(generate(p), {p, key}));
  }
}

// Option errors found by CLI11 follow the one-line contract and exit with status 1.
TEST_F(CliBadInput, UsageErrorsAreOneLine) {
  EXPECT_TRUE(
      IsOneLineError(run_r1({"generate", "--model", tiny_, "--prompt-ids", "1", "--max-new-tokens", "abc"}),
                     {"--max-new-tokens"}));
  EXPECT_TRUE(
      IsOneLineError(run_r1({"generate", "--model", tiny_, "--prompt-ids", "1", "--bogus"}), {"--bogus"}));
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--prompt-ids", "1"}), {"--model"}));
  EXPECT_TRUE(IsOneLineError(run_r1({}), {"no command given", "pretrain"}));
}

// A trailing comma is refused like "1,,2" and ",1".
TEST_F(CliBadInput, PromptIdsTrailingComma) {
  EXPECT_TRUE(IsOneLineError(generate(tiny_, "1,2,"), {"--prompt-ids", "'' is not a token id"}));
}

}  // namespace
