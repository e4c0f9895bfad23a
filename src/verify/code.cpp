#include "verify/code.h"

#include <algorithm>
#include <cctype>
#include <csignal>

#include "core/error.h"

namespace r1::verify {
namespace {

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n' ||
                        s.back() == '\f' || s.back() == '\v'))
    s.remove_suffix(1);
  return s;
}

// A fence line: up to 3 spaces, then 3+ of ` or ~. Returns the fence length (0 = not a fence).
size_t fence_at(std::string_view line, char& ch, std::string_view& rest) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') i++;
  if (i >= line.size() || (line[i] != '`' && line[i] != '~')) return 0;
  ch = line[i];
  size_t j = i;
  while (j < line.size() && line[j] == ch) j++;
  if (j - i < 3) return 0;
  rest = line.substr(j);
  return j - i;
}

}  // namespace

std::optional<CodeBlock> extract_code(std::string_view text) {
  std::optional<CodeBlock> last;
  bool open = false;
  char open_ch = 0;
  size_t open_len = 0;
  CodeBlock cur;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    char ch = 0;
    std::string_view rest;
    size_t len = fence_at(line, ch, rest);
    if (!open) {
      // An opening fence; a backtick fence's info string may not contain a backtick.
      if (len > 0 && !(ch == '`' && rest.find('`') != std::string_view::npos)) {
        open = true, open_ch = ch, open_len = len;
        cur = CodeBlock{};
        size_t a = 0;
        while (a < rest.size() && std::isspace(uint8_t(rest[a]))) a++;
        size_t b = a;
        while (b < rest.size() && !std::isspace(uint8_t(rest[b])) && rest[b] != '{') b++;
        for (size_t k = a; k < b; k++) cur.language += char(std::tolower(uint8_t(rest[k])));
      }
    } else if (len >= open_len && ch == open_ch && rstrip(rest).empty()) {
      open = false;
      last = std::move(cur);
    } else {
      cur.code.append(line);
      cur.code += '\n';
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return last;
}

std::string normalize_language(std::string_view tag) {
  std::string t;
  for (char c : tag) t += char(std::tolower(uint8_t(c)));
  if (t == "python" || t == "py" || t == "python3" || t == "py3") return "python";
  if (t == "cpp" || t == "c++" || t == "cxx" || t == "cc" || t == "hpp") return "cpp";
  return "";
}

CodeTests CodeTests::from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("tests: expected a JSON object");
  CodeTests t;
  for (const auto& [key, v] : j.items()) {
    if (key == "language") {
      if (!v.is_string()) fail("tests.language: expected a string");
      t.language = normalize_language(v.get<std::string>());
      if (t.language.empty())
        fail("tests.language: unsupported language '{}' (python or cpp)", v.get<std::string>());
    } else if (key == "io") {
      if (!v.is_array()) fail("tests.io: expected an array");
      for (size_t i = 0; i < v.size(); i++) {
        const auto& c = v[i];
        if (!c.is_object() || !c.contains("output") || !c["output"].is_string() ||
            (c.contains("input") && !c["input"].is_string()))
          fail("tests.io[{}]: expected {{\"input\": string, \"output\": string}}", i);
        t.io.push_back({c.value("input", std::string()), c["output"].get<std::string>()});
      }
    } else if (key == "asserts") {
      if (v.is_string()) {
        t.asserts.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (size_t i = 0; i < v.size(); i++) {
          if (!v[i].is_string()) fail("tests.asserts[{}]: expected a string", i);
          t.asserts.push_back(v[i].get<std::string>());
        }
      } else {
        fail("tests.asserts: expected a string or an array of strings");
      }
    } else {
      fail("tests.{}: unknown field (language, io, asserts)", key);
    }
  }
  if (t.size() == 0) fail("tests: no test cases (io or asserts)");
  return t;
}

nlohmann::json CodeTests::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (!language.empty()) j["language"] = language;
  if (!io.empty()) {
    j["io"] = nlohmann::json::array();
    for (const auto& c : io) j["io"].push_back({{"input", c.input}, {"output", c.output}});
  }
  if (!asserts.empty()) j["asserts"] = asserts;
  return j;
}

bool outputs_match(std::string_view got, std::string_view expected) {
  auto norm = [](std::string_view s) {
    std::string out;
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t nl = s.find('\n', pos);
      std::string_view line = s.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      out.append(rstrip(line));
      out += '\n';
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  return norm(got) == norm(expected);
}

namespace {

std::string failure_reason(const sandbox::RunResult& r) {
  if (!r.error.empty()) return "sandbox error: " + r.error;
  if (r.timed_out) return "timeout";
  if (r.output_truncated) return "output limit";
  if (r.signal == SIGXCPU) return "timeout (cpu)";
  if (r.signal != 0) return "killed by signal " + std::to_string(r.signal);
  if (r.exit_code != 0) return "exit code " + std::to_string(r.exit_code);
  return "wrong answer";
}

}  // namespace

CodeScore score_code(std::string_view completion, const CodeTests& tests, const CodeOptions& opts) {
  CodeScore s;
  s.total = int(tests.size());
  std::optional<CodeBlock> block = extract_code(completion);
  if (!block) {
    s.reason = "no code block";
    return s;
  }
  std::string lang = tests.language.empty() ? normalize_language(block->language) : tests.language;
  if (lang != "python" && lang != "cpp") {
    s.reason = "unsupported language";
    return s;
  }
  if (s.total == 0) {
    s.reason = "no test cases";
    return s;
  }
  const sandbox::Pool pool(opts.workers);
  // What each case runs: the program (or the program plus its assert code) and its stdin.
  std::vector<std::string> sources;
  std::vector<std::string> stdins;
  for (const auto& c : tests.io) sources.push_back(block->code), stdins.push_back(c.input);
  for (const auto& a : tests.asserts)
    sources.push_back(block->code + "\n\n" + a + "\n"), stdins.emplace_back();

  std::vector<sandbox::RunSpec> specs(sources.size());
  std::vector<bool> compiled(sources.size(), true);
  if (lang == "python") {
    for (size_t i = 0; i < sources.size(); i++) {
      specs[i].argv = {opts.python, "-I", "-S", "-B", "main.py"};
      specs[i].files = {{"main.py", sources[i], false}};
    }
  } else {
    // Compile each distinct source once (all io cases share the program), then run.
    std::vector<std::string> distinct;
    std::vector<size_t> which(sources.size());
    for (size_t i = 0; i < sources.size(); i++) {
      auto it = std::find(distinct.begin(), distinct.end(), sources[i]);
      which[i] = size_t(it - distinct.begin());
      if (it == distinct.end()) distinct.push_back(sources[i]);
    }
    std::vector<sandbox::RunSpec> compile(distinct.size());
    for (size_t k = 0; k < distinct.size(); k++) {
      compile[k].argv = {opts.cxx, "-O1", "-std=c++17", "-o", "prog", "main.cpp"};
      compile[k].files = {{"main.cpp", distinct[k], false}};
      compile[k].collect = {"prog"};
      compile[k].limits = opts.compile_limits;
    }
    std::vector<sandbox::RunResult> built = pool.run_all(compile);
    bool any = false;
    for (size_t i = 0; i < sources.size(); i++) {
      const auto& b = built[which[i]];
      compiled[i] = b.exited_ok() && !b.collected.empty();
      any = any || compiled[i];
      if (compiled[i]) {
        specs[i].argv = {"./prog"};
        specs[i].files = {{"prog", b.collected[0].second, true}};
      }
    }
    if (!any) {
      s.reason = built.size() == 1 && !built[0].error.empty() ? "sandbox error: " + built[0].error
                 : built.size() == 1 && built[0].timed_out    ? "compile timeout"
                                                              : "compile error";
      return s;
    }
  }
  std::vector<size_t> to_run;
  std::vector<sandbox::RunSpec> batch;
  for (size_t i = 0; i < specs.size(); i++) {
    if (!compiled[i]) continue;
    specs[i].stdin_data = stdins[i];
    specs[i].limits = opts.run_limits;
    to_run.push_back(i);
    batch.push_back(std::move(specs[i]));
  }
  std::vector<sandbox::RunResult> results = pool.run_all(batch);
  std::vector<std::string> why(sources.size(), "compile error");
  for (size_t k = 0; k < to_run.size(); k++) {
    const size_t i = to_run[k];
    const auto& r = results[k];
    const bool is_io = i < tests.io.size();
    if (r.exited_ok() && !r.output_truncated &&
        (!is_io || outputs_match(r.stdout_data, tests.io[i].output))) {
      s.passed++;
      why[i].clear();
    } else {
      why[i] = failure_reason(r);
    }
  }
  s.score = opts.fraction ? double(s.passed) / double(s.total) : (s.passed == s.total ? 1.0 : 0.0);
  s.reason = std::to_string(s.passed) + "/" + std::to_string(s.total) + " passed";
  for (size_t i = 0; i < why.size(); i++) {
    if (!why[i].empty()) {
      s.reason += "; case " + std::to_string(i + 1) + ": " + why[i];
      break;
    }
  }
  return s;
}

}  // namespace r1::verify
