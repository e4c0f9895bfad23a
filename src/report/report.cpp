// r1 report: metrics.jsonl (+ samples.jsonl, recipe.toml) to one self-contained HTML page with
// inline SVG charts. See report.h for what the page holds.
#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/strings.h"
#include "io/file.h"
#include "io/json.h"
#include "tokenizer/utf8.h"

namespace r1::report {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps the trainer's key order for the grid of charts

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxSampleSteps = 20;                // steps shown under "Sample completions"
constexpr size_t kMaxSamplesPerStep = 16;             // samples shown per step
constexpr size_t kMaxFieldBytes = 20000;              // a longer prompt or completion is cut
constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

// s with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, so that a line
// holding such bytes still parses as JSON (nlohmann rejects them).
std::string valid_utf8(std::string_view s) {
  if (utf8::is_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    const size_t n = static_cast<unsigned char>(s[i]) < 0x80 ? 1 : utf8::valid_len(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

// Calls f for each row of a JSON Lines file with its 1-based line number. Blank lines, a UTF-8
// BOM and CRLF endings are accepted. A line that is not a JSON object is an error unless it is
// the last line and has no newline (cut short when the run was killed): that one is skipped.
// Every row must have a numeric "step".
void for_each_row(const std::string& path, const std::function<void(Json&, size_t)>& f) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    const bool complete = !in.eof();  // getline stopped at a '\n'
    if (no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim_ascii(line).empty()) continue;
    Json row;
    try {
      row = parse_json<Json>(valid_utf8(line), fmt::format("{}:{}", path, no), JsonText::Line);
    } catch (const Error&) {
      if (!complete) break;  // a row still being written
      throw;
    }
    if (!row.is_object()) {
      if (!complete) break;
      fail("{}:{}: not a JSON object (got {})", path, no, row.type_name());
    }
    const auto step = row.find("step");
    if (step == row.end() || !step->is_number()) fail("{}:{}: the row has no numeric \"step\"", path, no);
    f(row, no);
  }
  if (in.bad()) fail("{}: read error", path);
}

// One metric: its (step, value) points in file order; NaN marks a null (a gap in the line).
// Rows that do not mention the key (sparse evaluation rows) add no point.
struct Series {
  std::string name;
  std::vector<double> x, y;
  size_t finite = 0;  // number of non-null values
  double last() const {
    for (size_t i = y.size(); i-- > 0;)
      if (std::isfinite(y[i])) return y[i];
    return kNaN;
  }
};

struct Metrics {
  std::vector<Series> series;  // in order of first appearance
  std::unordered_map<std::string, size_t> index;
  size_t rows = 0;
  double first_step = kNaN, last_step = kNaN;

  const Series* find(const std::string& name) const {
    const auto it = index.find(name);
    return it == index.end() || series[it->second].finite == 0 ? nullptr : &series[it->second];
  }
};

Metrics read_metrics(const std::string& path) {
  Metrics m;
  for_each_row(path, [&](Json& row, size_t) {
    const double step = row["step"].get<double>();
    if (m.rows++ == 0) m.first_step = step;
    m.last_step = step;
    for (const auto& [key, v] : row.items()) {
      if (key == "step" || !(v.is_null() || (v.is_number() && !v.is_boolean()))) continue;
      auto [it, added] = m.index.try_emplace(key, m.series.size());
      if (added) m.series.push_back({key, {}, {}, 0});
      Series& s = m.series[it->second];
      const double y = v.is_null() ? kNaN : v.get<double>();
      s.x.push_back(step);
      s.y.push_back(std::isfinite(y) ? y : kNaN);
      s.finite += std::isfinite(y) ? 1 : 0;
    }
  });
  return m;
}

// ---- charts ----------------------------------------------------------------------------------

struct Size {
  double w, h;  // pixels
  int x_ticks;  // about this many ticks on the step axis
};
constexpr Size kLarge{900, 380, 10}, kMedium{440, 250, 5}, kSmall{300, 180, 4};

// "x,y" of one point, rounded to a tenth of a pixel.
std::string pt(double x, double y) {
  return fmt::format("{:.1f},{:.1f} ", x, y);
}

// The SVG of one chart: gridlines with tick labels, each series as polylines broken at nulls,
// dots when a series has few points, a faint raw line plus a trailing moving average when it has
// many, and a legend. "" when no series has a value.
std::string chart_svg(const std::vector<const Series*>& ss, Size size) {
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series* s : ss)
    for (size_t i = 0; i < s->y.size(); ++i)
      if (std::isfinite(s->y[i]) && std::isfinite(s->x[i])) {
        x_lo = std::min(x_lo, s->x[i]), x_hi = std::max(x_hi, s->x[i]);
        y_lo = std::min(y_lo, s->y[i]), y_hi = std::max(y_hi, s->y[i]);
      }
  if (!(x_lo <= x_hi)) return "";
  const bool small = size.w < 400;
  const int font = small ? 10 : 11;
  const double char_w = font * 0.6;

  // Legend: swatch + name, left to right, wrapping at the chart's width.
  std::string legend;
  const double L = small ? 48 : 62, R = 12, B = 30;
  double lx = L, ly = 14;
  for (size_t k = 0; k < ss.size(); ++k) {
    const double item_w = 22 + char_w * static_cast<double>(ss[k]->name.size()) + 14;
    if (lx > L && lx + item_w > size.w - R) lx = L, ly += 15;
    legend += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"16\" height=\"3\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n",
        lx, ly - 4, kColors[k % std::size(kColors)], lx + 20, ly, html_escape(ss[k]->name));
    lx += item_w;
  }
  const double T = ly + 12;

  const std::vector<double> xt = nice_ticks(x_lo, x_hi, size.x_ticks, 1);
  const std::vector<double> yt = nice_ticks(y_lo, y_hi, small ? 4 : 5);
  const double x0 = xt.front(), x1 = xt.back(), y0 = yt.front(), y1 = yt.back();
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (size.w - L - R); };
  auto py = [&](double y) { return size.h - B - (y - y0) / (y1 - y0) * (size.h - T - B); };

  std::string svg = fmt::format(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-size=\"{2}\">\n<g class=\"legend\">\n{3}</g>\n",
      size.w, size.h, font, legend);
  // Gridlines and tick labels.
  const double y_step = yt.size() > 1 ? yt[1] - yt[0] : 1, x_step = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double y : yt)
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        L, size.w - R, py(y), L - 5, py(y) + 4, format_tick(y, y_step));
  for (double x : xt)
    svg += fmt::format(
        "<line class=\"tick\" x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\"/>"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
        px(x), size.h - B, size.h - B + 4, size.h - B + 16, format_tick(x, x_step));
  svg += fmt::format(
      "<path class=\"axis\" d=\"M{0:.1f},{1:.1f}V{2:.1f}H{3:.1f}\"/>"
      "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">step</text>\n",
      L, T - 4, size.h - B, size.w - R, size.h - 3);

  // Series: one polyline per run of non-null values.
  for (size_t k = 0; k < ss.size(); ++k) {
    const Series& s = *ss[k];
    const char* color = kColors[k % std::size(kColors)];
    const std::string name = html_escape(s.name);
    const bool smooth = s.finite > 50;
    const size_t window = std::max<size_t>(5, s.finite / 25);
    std::string raw, avg;
    std::vector<double> recent;  // the last `window` values, for the moving average
    double sum = 0;
    auto flush = [&] {
      if (!raw.empty())
        svg += fmt::format("<polyline class=\"series\" data-series=\"{}\" stroke=\"{}\"{} points=\"{}\"/>\n",
                           name, color, smooth ? " stroke-opacity=\"0.3\"" : "", raw);
      if (!avg.empty())
        svg += fmt::format("<polyline class=\"ma\" data-series=\"{}\" stroke=\"{}\" points=\"{}\"/>\n", name,
                           color, avg);
      raw.clear(), avg.clear();
    };
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i]) || !std::isfinite(s.x[i])) {
        flush();
        continue;
      }
      raw += pt(px(s.x[i]), py(s.y[i]));
      if (smooth) {
        recent.push_back(s.y[i]);
        sum += s.y[i];
        if (recent.size() > window) sum -= recent[recent.size() - window - 1];
        avg += pt(px(s.x[i]), py(sum / static_cast<double>(std::min(recent.size(), window))));
      }
    }
    flush();
    if (s.finite <= 30)
      for (size_t i = 0; i < s.y.size(); ++i)
        if (std::isfinite(s.y[i]) && std::isfinite(s.x[i]))
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", px(s.x[i]),
                             py(s.y[i]), small ? 2 : 2.5, color);
  }
  return svg + "</svg>\n";
}

// A titled chart as a <figure>, or "" when it would be empty.
std::string figure(const std::string& title, const std::vector<const Series*>& ss, Size size) {
  if (ss.empty()) return "";
  const std::string svg = chart_svg(ss, size);
  if (svg.empty()) return "";
  return fmt::format("<figure><figcaption>{}</figcaption>\n{}</figure>\n", html_escape(title), svg);
}

std::string format_value(double v) {
  return std::isfinite(v) ? fmt::format("{:.4g}", v) : "null";
}

// A step number: whole steps without an exponent (12345, not 1.234e+04).
std::string format_step(double s) {
  return std::isfinite(s) && s == std::floor(s) && std::abs(s) < 1e15 ? fmt::format("{:.0f}", s)
                                                                      : format_value(s);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return format_value(s);
  const auto t = static_cast<long long>(s);
  if (t >= 3600) return fmt::format("{}h {:02}m", t / 3600, t / 60 % 60);
  if (t >= 60) return fmt::format("{}m {:02}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

// Text from a file, cut to kMaxFieldBytes, escaped.
std::string field_html(std::string_view s) {
  if (s.size() <= kMaxFieldBytes) return html_escape(s);
  return html_escape(s.substr(0, kMaxFieldBytes)) +
         fmt::format("\n[... {} more bytes not shown]", s.size() - kMaxFieldBytes);
}

// One sample: its prompt, its completion and every other string or number field.
std::string sample_html(const Json& row) {
  std::string h;
  h += "<div class=\"sample\">\n";
  if (const auto p = row.find("prompt"); p != row.end() && p->is_string())
    h += "<div class=\"label\">prompt</div><pre class=\"prompt\">" +
         field_html(p->get_ref<const std::string&>()) + "</pre>\n";
  if (const auto c = row.find("completion"); c != row.end() && c->is_string())
    h += "<div class=\"label\">completion</div><pre class=\"completion\">" +
         field_html(c->get_ref<const std::string&>()) + "</pre>\n";
  // Every other string or number field (reward, gold, ...); gold may be any JSON value.
  std::string fields;
  for (const auto& [key, v] : row.items()) {
    if (key == "step" || key == "prompt" || key == "completion") continue;
    std::string text;
    if (v.is_string())
      text = v.get<std::string>();
    else if (v.is_number() && !v.is_boolean())
      text = format_value(v.get<double>());
    else if (key == "gold" && !v.is_null())
      text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    else
      continue;
    fields += fmt::format("<span><b>{}</b> {}</span> ", html_escape(key), field_html(text));
  }
  if (!fields.empty()) h += "<div class=\"fields\">" + fields + "</div>\n";
  h += "</div>\n";
  return h;
}

// The first rollout that corrected itself, when the run recorded one.
std::string self_correction_html(const std::string& path) {
  std::string h;
  for_each_row(path, [&](Json& row, size_t) {
    const auto kind = row.find("kind");
    if (!h.empty() || kind == row.end() || *kind != kFirstSelfCorrection) return;
    h = fmt::format(
        "<h2>First self-correction (step {})</h2>\n<p>The first rollout of the run with a slip (an equation "
        "that does not hold) that it computed again, right, after a reflection phrase, and a right "
        "answer.</p>\n",
        format_step(row["step"].get<double>()));
    h += sample_html(row);
  });
  return h;
}

// The "Sample completions" section: the latest kMaxSampleSteps steps of samples.jsonl, newest
// first. Read as a stream keeping only those steps, so a long run's file need not fit in memory.
std::string samples_html(const std::string& path) {
  std::map<double, std::pair<std::vector<Json>, size_t>> steps;  // step -> (samples kept, total)
  for_each_row(path, [&](Json& row, size_t) {
    auto& [kept, total] = steps[row["step"].get<double>()];
    if (++total <= kMaxSamplesPerStep) kept.push_back(std::move(row));
    if (steps.size() > kMaxSampleSteps) steps.erase(steps.begin());
  });
  std::string h = "<h2>Sample completions</h2>\n";
  if (steps.empty()) return h + "<p>samples.jsonl has no rows.</p>\n";
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const auto& [kept, total] = it->second;
    h += fmt::format("<h3>step {}</h3>\n", format_step(it->first));
    for (const Json& row : kept) h += sample_html(row);
    if (total > kept.size())
      h += fmt::format("<p>({} more samples of this step not shown)</p>\n", total - kept.size());
  }
  return h;
}

constexpr const char* kStyle = R"(<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .summary{color:#444} figure{margin:.5em;display:inline-block}
figcaption{font-weight:600;margin-bottom:.2em} .grid-charts{display:flex;flex-wrap:wrap}
svg.chart{max-width:100%;height:auto;background:#fff} svg text{fill:#333}
svg .grid{stroke:#e4e4e4} svg .tick,svg .axis{stroke:#888;fill:none}
svg polyline{fill:none;stroke-width:1.6;stroke-linejoin:round} svg polyline.ma{stroke-width:2}
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;word-break:break-word;max-height:24em;overflow:auto}
.sample{border-left:3px solid #ccc;padding-left:.8em;margin:1em 0} .label{color:#666;font-size:90%}
.fields span{margin-right:1.5em}
</style>
)";

}  // namespace

std::string html_escape(std::string_view text) {
  const std::string s = valid_utf8(text);  // bad bytes become U+FFFD; the rest passes through
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const char* entity = c == '&'    ? "&amp;"
                         : c == '<'  ? "&lt;"
                         : c == '>'  ? "&gt;"
                         : c == '"'  ? "&quot;"
                         : c == '\'' ? "&#39;"
                                     : nullptr;
    if (entity)
      out += entity;
    else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      out += kReplacement;  // control characters are not allowed in HTML text
    else
      out += ch;
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target, double min_spacing) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= std::abs(hi) * 1e-12) {  // one value: widen around it
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  }
  // The spacing: 1, 2 or 5 times a power of ten, closest to giving `target` intervals.
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double p = std::pow(10, std::floor(std::log10(raw)));
  const double m = raw / p;
  double spacing = (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
  spacing = std::max(spacing, min_spacing);
  const double first = std::floor(lo / spacing + 1e-9);
  const double last = std::max(first + 1, std::ceil(hi / spacing - 1e-9));
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; ++k) ticks.push_back(k == 0 ? 0 : k * spacing);
  return ticks;
}

std::string format_tick(double v, double spacing) {
  if (std::abs(v) < spacing * 1e-6) return "0";
  const double mag = std::abs(v);
  if (mag < 1e6 && spacing >= 1) return fmt::format("{:.0f}", v);
  if (mag < 1e6 && spacing >= 1e-3) {
    const int decimals = static_cast<int>(-std::floor(std::log10(spacing) + 1e-9));
    return fmt::format("{:.{}f}", v, decimals);
  }
  // Very large or very small: as many significant digits as the spacing needs, e.g. 3e-05.
  const int digits =
      static_cast<int>(std::floor(std::log10(mag) + 1e-9) - std::floor(std::log10(spacing) + 1e-9)) + 1;
  return fmt::format("{:.{}g}", v, std::clamp(digits, 1, 15));
}

std::string render_report(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) fail("{}: no such run directory", run_dir);
  const fs::path dir(run_dir);
  const std::string metrics_path = (dir / "metrics.jsonl").string();
  if (!fs::exists(metrics_path, ec)) fail("{}: no metrics.jsonl in the run directory", metrics_path);
  const Metrics m = read_metrics(metrics_path);

  std::string name = run_dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  name = fs::path(name).filename().string();
  if (name.empty() || name == ".")
    name = fs::absolute(dir, ec).lexically_normal().parent_path().filename().string();

  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>r1 report: "
      "{0}</title>\n{1}"
      "</head>\n<body>\n<h1>r1 report: {0}</h1>\n",
      html_escape(name), kStyle);

  // Summary: steps, the last value of the key metrics, elapsed time.
  std::vector<std::string> parts;
  if (m.rows > 0)
    parts.push_back(fmt::format("{} rows, steps {} to {}", m.rows, format_value(m.first_step),
                                format_value(m.last_step)));
  std::vector<std::string> key_metrics = {"accuracy"};
  for (const Series& s : m.series)
    if (s.name.starts_with("eval/pass")) key_metrics.push_back(s.name);
  for (const char* k : {"reward_mean", "response_length_mean", "kl", "entropy", "loss", "lr", "tokens_per_s"})
    key_metrics.push_back(k);
  for (const std::string& k : key_metrics)
    if (const Series* s = m.find(k))
      parts.push_back(fmt::format("{} {}", html_escape(k), format_value(s->last())));
  if (const Series* s = m.find("elapsed_s")) parts.push_back("elapsed " + format_duration(s->last()));
  h += "<p class=\"summary\">";
  for (size_t i = 0; i < parts.size(); ++i) h += (i ? " &middot; " : "") + parts[i];
  h += "</p>\n";
  const std::string recipe_path = (dir / "recipe.toml").string();
  if (fs::is_regular_file(recipe_path, ec))
    h += "<details><summary>recipe.toml</summary><pre>" + html_escape(read_file(recipe_path)) +
         "</pre></details>\n";

  // Charts. Each key is drawn once: in the first chart that claims it.
  std::set<std::string> used;
  auto pick = [&](const std::function<bool(const std::string&)>& want) {
    std::vector<const Series*> out;
    for (const Series& s : m.series)
      if (s.finite > 0 && !used.contains(s.name) && want(s.name)) out.push_back(&s), used.insert(s.name);
    return out;
  };
  auto is = [](std::vector<std::string> names) {  // a key from a fixed list
    return [names = std::move(names)](const std::string& k) {
      return std::find(names.begin(), names.end(), k) != names.end();
    };
  };
  std::string charts;
  charts += figure("Accuracy vs step", pick([](const std::string& k) {
                     return k == "accuracy" || k.starts_with("eval/pass") || k.starts_with("eval/cons");
                   }),
                   kLarge);
  charts += figure(
      "Mean response length vs step",
      pick(is({"response_length_mean", "eval/response_length_mean", "response_length_correct",
               "response_length_wrong", "eval/response_length_correct", "eval/response_length_wrong"})),
      kLarge);
  charts += figure("Reflection vs step (phrases; actual check steps; self-corrections)",
                   pick(is({"reflection_rate", "check_rate", "self_correction_rate", "eval/reflection_rate",
                            "eval/check_rate", "check_rate_correct", "check_rate_wrong",
                            "eval/check_rate_correct", "eval/check_rate_wrong"})),
                   kLarge);
  std::string medium;
  medium += figure("Reward",
                   pick([](const std::string& k) { return k == "reward_mean" || k.starts_with("reward/"); }),
                   kMedium);
  medium += figure("KL", pick(is({"kl"})), kMedium);
  medium += figure("Entropy", pick(is({"entropy"})), kMedium);
  medium += figure("Clip fraction", pick(is({"clip_fraction"})), kMedium);
  medium += figure("Grad norm", pick(is({"grad_norm"})), kMedium);
  medium += figure("Learning rate", pick(is({"lr"})), kMedium);
  medium += figure("Loss", pick(is({"loss"})), kMedium);
  medium += figure("Timings (s)", pick([](const std::string& k) {
                     return k.ends_with("_s") && !k.ends_with("_per_s") && k != "elapsed_s";
                   }),
                   kMedium);
  if (!medium.empty()) charts += "<div class=\"grid-charts\">\n" + medium + "</div>\n";
  std::string rest;
  for (const Series& s : m.series)
    if (s.finite > 0 && !used.contains(s.name)) rest += figure(s.name, {&s}, kSmall);
  if (!rest.empty()) charts += "<h2>Other metrics</h2>\n<div class=\"grid-charts\">\n" + rest + "</div>\n";
  if (charts.empty())
    h += fmt::format("<p class=\"empty\">Nothing to plot: metrics.jsonl has no {}.</p>\n",
                     m.rows == 0 ? "rows" : "numeric values");
  h += charts;

  const std::string samples_path = (dir / "samples.jsonl").string();
  if (fs::exists(samples_path, ec)) h += self_correction_html(samples_path) + samples_html(samples_path);
  return h + "</body>\n</html>\n";
}

namespace {

double first_value(const Series& s) {
  for (double y : s.y)
    if (std::isfinite(y)) return y;
  return kNaN;
}

// A share as a percentage ("47.5%"), another number as format_value does.
std::string pct_or_value(double v, bool pct) {
  if (!std::isfinite(v)) return "&ndash;";
  return pct ? fmt::format("{:.1f}%", 100 * v) : format_value(v);
}

// Held-out pass@1 of each column as horizontal bars.
std::string pass1_bars(const std::vector<std::pair<std::string, double>>& bars) {
  if (bars.empty()) return "";
  const double row = 22, label_w = 170, bar_w = 520, w = label_w + bar_w + 70;
  const double h = row * static_cast<double>(bars.size()) + 8;
  std::string svg = fmt::format(
      "<figure><figcaption>Held-out pass@1 after each stage</figcaption>\n<svg class=\"chart\" "
      "xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-size=\"11\">\n",
      w, h);
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = 4 + row * static_cast<double>(i), v = std::clamp(bars[i].second, 0.0, 1.0);
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>"
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{:.1f}%</text>\n",
        label_w - 6, y + 13, html_escape(bars[i].first), label_w, y + 2, bar_w * v, row - 6, kColors[0],
        label_w + bar_w * v + 5, y + 13, 100 * v);
  }
  return svg + "</svg></figure>\n";
}

}  // namespace

std::string render_pipeline_report(const std::string& dir, const std::vector<PipelineColumn>& columns) {
  std::error_code ec;
  std::vector<Metrics> metrics(columns.size());
  std::vector<Json> evals(columns.size());
  bool any_eval = false;
  for (size_t i = 0; i < columns.size(); ++i) {
    const PipelineColumn& c = columns[i];
    const std::string mp = c.run_dir.empty() ? "" : (fs::path(c.run_dir) / "metrics.jsonl").string();
    if (!mp.empty() && fs::exists(mp, ec)) metrics[i] = read_metrics(mp);
    any_eval |= !c.eval_summary.empty();
    if (!c.eval_summary.empty() && fs::exists(c.eval_summary, ec)) {
      evals[i] = parse_json_or_discarded(read_file(c.eval_summary));
      if (!evals[i].is_object()) fail("{}: not a JSON object", c.eval_summary);
    }
  }

  std::string h = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>r1 pipeline: "
      "{0}</title>\n{1}"
      "<style>table.stages{{border-collapse:collapse;margin:1em 0}} table.stages td,table.stages "
      "th{{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}} table.stages "
      "th.row{{text-align:left;font-weight:normal;color:#444}} tr.section th{{text-align:left;"
      "background:#f3f3f3}}</style>\n</head>\n<body>\n<h1>r1 pipeline: {0}</h1>\n",
      html_escape(dir), kStyle);
  h += "<p class=\"summary\">DeepSeek-R1's four stages: each column is the model a stage made, the base "
       "model first; training figures are the first and last values of the stage's metrics.</p>\n";

  std::string t = "<table class=\"stages\">\n<tr><th></th>";
  for (const PipelineColumn& c : columns)
    t += fmt::format("<th>{}<br><span class=\"label\">{}</span></th>", html_escape(c.name),
                     html_escape(c.title));
  t += "</tr>\n";
  auto row = [&](const std::string& label, const std::function<std::string(size_t)>& cell) {
    std::string r = "<tr><th class=\"row\">" + html_escape(label) + "</th>";
    bool any = false;
    for (size_t i = 0; i < columns.size(); ++i) {
      std::string v = cell(i);
      any |= !v.empty();
      r += "<td>" + (v.empty() ? std::string("&ndash;") : v) + "</td>";
    }
    if (any) t += r + "</tr>\n";
  };
  auto section = [&](const char* name) {
    t += fmt::format("<tr class=\"section\"><th colspan=\"{}\">{}</th></tr>\n", columns.size() + 1, name);
  };
  row("status", [&](size_t i) { return html_escape(columns[i].status); });
  row("model", [&](size_t i) { return "<code>" + html_escape(columns[i].model) + "</code>"; });
  row("report", [&](size_t i) -> std::string {
    if (columns[i].run_dir.empty() || !fs::exists(fs::path(columns[i].run_dir) / "report.html", ec))
      return "";
    const std::string rel =
        (fs::path(columns[i].run_dir).lexically_relative(dir) / "report.html").generic_string();
    return "<a href=\"" + html_escape(rel) + "\">" + html_escape(rel) + "</a>";
  });

  std::vector<std::pair<std::string, double>> bars;
  if (any_eval) {
    section("held-out evaluation");
    int k = 0;
    for (const Json& e : evals)
      if (e.is_object() && e.contains("k") && e["k"].is_number_integer()) k = std::max(k, e["k"].get<int>());
    auto ev = [&](const std::string& key, bool pct) {
      return [&, key, pct](size_t i) -> std::string {
        if (columns[i].eval_summary.empty()) return "";
        if (!evals[i].is_object()) return "<span class=\"label\">pending</span>";
        const auto it = evals[i].find(key);
        return it != evals[i].end() && it->is_number() ? pct_or_value(it->get<double>(), pct) : "";
      };
    };
    row("pass@1", ev("pass@1", true));
    if (k > 1) {
      row(fmt::format("cons@{}", k), ev(fmt::format("cons@{}", k), true));
      row(fmt::format("pass@{}", k), ev(fmt::format("pass@{}", k), true));
    }
    row("mean response tokens", ev("mean_tokens", false));
    row("answered", ev("answered", true));
    row("cut at max_new_tokens", ev("truncated", true));
    row("problems", ev("problems", false));
    for (size_t i = 0; i < columns.size(); ++i)
      if (evals[i].is_object() && evals[i].contains("pass@1") && evals[i]["pass@1"].is_number())
        bars.push_back({columns[i].name, evals[i]["pass@1"].get<double>()});
  }

  section("training (first &rarr; last)");
  row("steps",
      [&](size_t i) -> std::string { return metrics[i].rows > 0 ? format_step(metrics[i].last_step) : ""; });
  auto first_last = [&](const std::string& key) {
    return [&, key](size_t i) -> std::string {
      const Series* s = metrics[i].find(key);
      if (s == nullptr) return "";
      return format_value(first_value(*s)) + " &rarr; " + format_value(s->last());
    };
  };
  std::vector<std::string> keys = {"loss", "eval/loss", "reward_mean", "accuracy"};
  std::set<std::string> components;
  for (const Metrics& m : metrics)
    for (const Series& s : m.series)
      if (s.name.starts_with("reward/") && s.finite > 0) components.insert(s.name);
  keys.insert(keys.end(), components.begin(), components.end());
  for (const char* k : {"response_length_mean", "eval/pass@1", "kl", "entropy"}) keys.push_back(k);
  for (const std::string& k : keys) row(k, first_last(k));
  row("elapsed", [&](size_t i) -> std::string {
    const Series* s = metrics[i].find("elapsed_s");
    return s ? format_duration(s->last()) : "";
  });

  std::vector<std::string> fact_labels;
  for (const PipelineColumn& c : columns)
    for (const auto& f : c.facts)
      if (std::find(fact_labels.begin(), fact_labels.end(), f.first) == fact_labels.end())
        fact_labels.push_back(f.first);
  if (!fact_labels.empty()) section("data");
  for (const std::string& label : fact_labels)
    row(label, [&](size_t i) -> std::string {
      for (const auto& f : columns[i].facts)
        if (f.first == label) return html_escape(f.second);
      return "";
    });
  t += "</table>\n";
  h += t + pass1_bars(bars);
  const std::string recipe_path = (fs::path(dir) / "recipe.toml").string();
  if (fs::is_regular_file(recipe_path, ec))
    h += "<details><summary>recipe.toml</summary><pre>" + html_escape(read_file(recipe_path)) +
         "</pre></details>\n";
  return h + "</body>\n</html>\n";
}

void write_report(const std::string& run_dir) {
  const std::string html = render_report(run_dir);
  write_file_atomic((fs::path(run_dir) / "report.html").string(), html);
}

}  // namespace r1::report
