#include "eval/eval_run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "core/rng.h"
#include "core/stop_signals.h"
#include "dist/comm.h"
#include "io/file.h"
#include "io/json.h"

namespace r1 {

namespace fs = std::filesystem;

void check_output_path(const std::string& option, const std::string& path) {
  if (path.empty()) fail("{}: the path is empty", option);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    fail("{}: {}: cannot write: it is a directory", option, path);
  // The probe is where write_file_atomic puts its temporary file: beside path.
  const std::string probe = fmt::format("{}.probe{}", path, static_cast<long>(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) fail("{}: {}: cannot write: {}", option, path, std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string format_eval_records(const EvalProblem& p, const ProblemResult& pr) {
  std::string out;
  for (size_t i = 0; i < pr.samples.size(); i++) {
    const SampleResult& r = pr.samples[i];
    nlohmann::ordered_json j;
    j["problem_index"] = pr.index;
    j["id"] = p.id;
    j["sample_index"] = i;
    j["gold"] = p.gold;
    j["extracted"] = r.extracted ? nlohmann::ordered_json(*r.extracted) : nlohmann::ordered_json(nullptr);
    j["verdict"] = verify::verdict_name(r.verdict);
    j["finish_reason"] = r.finish_reason;
    j["num_tokens"] = r.num_tokens;
    j["text"] = r.text;
    out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

nlohmann::ordered_json eval_summary_json(const EvalSummary& s, const std::string& benchmark,
                                         const std::string& data, const std::string& model,
                                         const GenerationConfig& g) {
  const int k = s.k;
  nlohmann::ordered_json sj;
  sj["benchmark"] = benchmark;
  sj["data"] = data;
  sj["model"] = model;
  sj["problems"] = s.problems;
  sj["unverifiable"] = s.unverifiable;
  sj["k"] = k;
  // Floats shown as written (0.6, not 0.6000000238).
  sj["temperature"] = std::stod(fmt::format("{}", g.sampling.temperature));
  sj["top_p"] = std::stod(fmt::format("{}", g.sampling.top_p));
  sj["max_new_tokens"] = g.max_new_tokens;
  sj["pass@1"] = s.pass1;
  sj[fmt::format("cons@{}", k)] = s.cons;
  for (int j = 2; j <= k; j++) sj[fmt::format("pass@{}", j)] = s.pass_at[j - 1];
  sj["answered"] = s.answered;
  sj["mean_tokens"] = s.mean_tokens;
  sj["max_tokens"] = s.max_tokens;
  sj["truncated"] = s.truncated;
  sj["seconds"] = s.seconds;
  return sj;
}

namespace {

// FNV-1a over the problems (ids, golds) and their prompts' token ids: a changed data file,
// template, instruction or tokenizer changes it.
std::string fingerprint(const std::vector<EvalProblem>& problems,
                        const std::vector<std::vector<int32_t>>& prompts) {
  uint64_t h = kFnvOffset;
  auto mix = [&](const void* data, size_t n) { h = fnv1a(data, n, h); };
  auto mix_str = [&](const std::string& s) {
    const uint64_t n = s.size();
    mix(&n, sizeof n);
    mix(s.data(), s.size());
  };
  for (size_t i = 0; i < problems.size(); i++) {
    mix_str(problems[i].id);
    mix_str(problems[i].gold);
    const uint64_t n = prompts[i].size();
    mix(&n, sizeof n);
    mix(prompts[i].data(), prompts[i].size() * sizeof(int32_t));
  }
  return fmt::format("{:016x} ({} problems)", h, problems.size());
}

constexpr const char* kFingerprintKey = "the problems and their encoded prompts";

std::optional<verify::Verdict> verdict_of(const std::string& name) {
  for (const verify::Verdict v :
       {verify::Verdict::kCorrect, verify::Verdict::kWrong, verify::Verdict::kUnverifiable})
    if (name == verify::verdict_name(v)) return v;
  return std::nullopt;
}

}  // namespace

EvalProgressFile::EvalProgressFile(std::string path, nlohmann::ordered_json settings, bool resume,
                                   const std::vector<EvalProblem>& problems,
                                   const std::vector<std::vector<int32_t>>& prompts, int k)
    : path_(std::move(path)),
      settings_(std::move(settings)),
      resume_(resume),
      problems_(problems),
      k_(k),
      writes_(world().root()),
      done_(problems.size(), 0),
      results_(problems.size()),
      records_(problems.size()) {
  R1_CHECK(problems.size() == prompts.size());
  settings_[kFingerprintKey] = fingerprint(problems, prompts);
  if (resume_) read_existing();
}

EvalProgressFile::~EvalProgressFile() {
  if (f_ != nullptr) std::fclose(f_);
  if (writes_ && started_ && !keep_ && done_count_ == 0) ::unlink(path_.c_str());
}

void EvalProgressFile::read_existing() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    fail("--resume: {} does not exist (nothing to resume: run without --resume)", path_);
  const std::string text = read_file(path_);
  // Lines; a last line without its newline was cut by a kill while it was written: dropped.
  std::vector<std::string> lines;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  const std::string again = "; run without --resume to start over";
  auto parse = [&](size_t i) {
    nlohmann::json j = parse_json_or_discarded(lines[i]);
    if (j.is_discarded())
      fail("{}:{}: not a line r1 eval or r1 sample wrote (malformed JSON){}", path_, i + 1, again);
    return j;
  };
  if (lines.empty()) fail("{}: empty: not an r1 eval or r1 sample progress file{}", path_, again);
  const nlohmann::json header = parse(0);
  if (!header.is_object() || !header.contains("r1_eval_progress") || header["r1_eval_progress"] != 1 ||
      !header.contains("settings") || !header["settings"].is_object())
    fail("{}:1: not an r1 eval or r1 sample progress file (no header){}", path_, again);
  // Every setting that differs, by the option that sets it.
  const nlohmann::json then = header["settings"], now = parse_json(settings_.dump(), "<settings>");
  std::string diffs;
  auto shown = [](const nlohmann::json& v) { return v.is_null() ? std::string("(unset)") : v.dump(); };
  for (auto it = now.begin(); it != now.end(); ++it) {
    const nlohmann::json was = then.contains(it.key()) ? then[it.key()] : nlohmann::json();
    if (was != it.value())
      diffs += fmt::format("{}{} {} there, {} now", diffs.empty() ? "" : "; ", it.key(), shown(was),
                           shown(it.value()));
  }
  for (auto it = then.begin(); it != then.end(); ++it)
    if (!now.contains(it.key()))
      diffs +=
          fmt::format("{}{} {} there, unset now", diffs.empty() ? "" : "; ", it.key(), shown(it.value()));
  if (!diffs.empty()) fail("--resume: {} is from a run with other settings: {}{}", path_, diffs, again);

  // Records, grouped by problem (append() writes a problem's k lines at once).
  size_t i = 1;
  while (i < lines.size()) {
    const size_t first = i;
    ProblemResult pr;
    std::string records;
    int64_t index = -1;
    while (i < lines.size() && static_cast<int>(pr.samples.size()) < k_) {
      const nlohmann::json j = parse(i);
      auto bad = [&](const std::string& why) {
        fail("{}:{}: not a record of this run ({}){}", path_, i + 1, why, again);
      };
      try {
        const int64_t pi = j.at("problem_index").get<int64_t>();
        if (index < 0) index = pi;
        if (pi != index) bad(fmt::format("problem {} is cut short", index));
        if (pi < 0 || pi >= static_cast<int64_t>(problems_.size())) bad("problem_index out of range");
        const EvalProblem& p = problems_[static_cast<size_t>(pi)];
        if (j.at("id").get<std::string>() != p.id) bad("its id is not problem " + std::to_string(pi) + "'s");
        if (j.at("sample_index").get<int64_t>() != static_cast<int64_t>(pr.samples.size()))
          bad("samples out of order");
        SampleResult r;
        r.text = j.at("text").get<std::string>();
        r.num_tokens = j.at("num_tokens").get<int64_t>();
        r.finish_reason = j.at("finish_reason").get<std::string>();
        if (!j.at("extracted").is_null()) r.extracted = j.at("extracted").get<std::string>();
        const auto v = verdict_of(j.at("verdict").get<std::string>());
        if (!v) bad("unknown verdict");
        r.verdict = *v;
        pr.samples.push_back(std::move(r));
      } catch (const nlohmann::json::exception& e) {
        bad(e.what());
      }
      records += lines[i] + "\n";
      i++;
    }
    if (static_cast<int>(pr.samples.size()) < k_) {
      if (i < lines.size()) fail("{}:{}: problem {} is cut short{}", path_, first + 1, index, again);
      break;  // the last problem, cut short by a kill: it runs again
    }
    const size_t pi = static_cast<size_t>(index);
    if (done_[pi]) fail("{}:{}: problem {} appears twice{}", path_, first + 1, index, again);
    pr.index = index;
    pr.unverifiable = !verify::math_parses(problems_[pi].gold);
    score_problem(pr, problems_[pi]);
    results_[pi] = std::move(pr);
    records_[pi] = std::move(records);
    done_[pi] = 1;
    done_count_++;
  }
}

bool EvalProgressFile::start() {
  R1_CHECK(!started_);
  if (!writes_) {  // a rank other than 0: the results are kept in memory only
    started_ = true;
    return false;
  }
  struct stat st {};
  const bool existed = ::stat(path_.c_str(), &st) == 0;
  nlohmann::ordered_json header;
  header["r1_eval_progress"] = 1;
  header["settings"] = settings_;
  std::string text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  for (size_t i = 0; i < records_.size(); i++) text += records_[i];
  write_file_atomic(path_, text);  // a resumed file is rewritten without a record cut short
  f_ = std::fopen(path_.c_str(), "ab");
  if (f_ == nullptr) fail("{}: cannot open for appending: {}", path_, std::strerror(errno));
  started_ = true;
  return existed && !resume_;
}

void EvalProgressFile::append(const ProblemResult& pr) {
  R1_CHECK(started_ && (f_ != nullptr || !writes_));
  const size_t i = static_cast<size_t>(pr.index);
  R1_CHECK(i < problems_.size() && !done_[i]);
  records_[i] = format_eval_records(problems_[i], pr);
  if (writes_ && (std::fwrite(records_[i].data(), 1, records_[i].size(), f_) != records_[i].size() ||
                  std::fflush(f_) != 0))
    fail("{}: cannot write: {}", path_, std::strerror(errno));
  results_[i] = pr;
  done_[i] = 1;
  done_count_++;
  appended_++;
}

void EvalProgressFile::remove() {
  if (f_ != nullptr) std::fclose(f_), f_ = nullptr;
  if (writes_) ::unlink(path_.c_str());
  started_ = false;
}

void write_eval_outputs(EvalProgressFile& progress, const std::string& out, const std::string& summary_json,
                        const nlohmann::ordered_json& summary) {
  if (!world().root()) return;  // rank 0 writes
  write_file_atomic(out, [&](std::FILE* f) {
    for (size_t i = 0; i < progress.size(); i++) {
      R1_CHECK(progress.is_done(i));
      const std::string& r = progress.records(i);
      if (std::fwrite(r.data(), 1, r.size(), f) != r.size())
        fail("{}: write failed: {}", out, std::strerror(errno));
    }
  });
  if (!summary_json.empty()) write_file_atomic(summary_json, summary.dump(2) + "\n");
  progress.remove();
}

EvalRunResult run_eval(Engine& engine, const std::vector<EvalProblem>& problems,
                       const std::vector<std::vector<int32_t>>& prompts,
                       const verify::ExtractOptions& extract, EvalProgressFile& progress,
                       const EvalSampleFn& on_sample, const SampleScorer& scorer) {
  std::vector<size_t> left;
  for (size_t i = 0; i < problems.size(); i++)
    if (!progress.is_done(i)) left.push_back(i);
  // Data parallelism: this rank's block of the problems left; the others' results are gathered
  // at the end (an interrupted rank keeps what it finished).
  const Shard mine = my_shard(static_cast<int64_t>(left.size()));
  const std::vector<size_t> todo(left.begin() + mine.begin, left.begin() + mine.end);
  std::vector<ProblemResult> finished;  // by this rank, for the others
  EvalRunResult out;
  {
    // SIGINT/SIGTERM only set a flag: the engine checks it before every forward pass, and each
    // completed problem checks it (and the test hook) once it is safely in the file.
    const StopSignals signals;
    struct StopCheck {
      Engine& e;
      ~StopCheck() { e.set_stop_check(nullptr); }
    } restore{engine};
    engine.set_stop_check([&] { return signals.raised(); });
    int64_t completed = 0;  // by this call
    try {
      run_eval_problems(
          engine, problems, prompts, todo, extract,
          [&](size_t, ProblemResult&& pr) {
            progress.append(pr);
            if (world().distributed()) finished.push_back(std::move(pr));
            if (signals.raised() || test_stop_requested(++completed)) throw GenerationStopped();
          },
          on_sample, scorer);
    } catch (const GenerationStopped&) {
      out.interrupted = true;
      progress.keep();
    } catch (const Error& e) {
      if (progress.done() == 0) throw;
      fail("{} ({} of {} problems are done and kept in {}: rerun with --resume to continue)", e.what(),
           progress.done(), problems.size(), progress.path());
    }
  }
  if (world().distributed()) {
    out.interrupted = world().max(out.interrupted ? 1.0 : 0.0) > 0;
    for (const ProblemResult& pr : gather_problem_results(finished))
      if (!progress.is_done(static_cast<size_t>(pr.index))) progress.append(pr);
    if (out.interrupted) progress.keep();
  }
  out.done = progress.done();
  if (!out.interrupted)
    for (size_t i = 0; i < problems.size(); i++) out.results.push_back(progress.result(i));
  return out;
}

}  // namespace r1
