#include "core/recipe.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "io/encoding.h"

namespace r1 {

// toml++ is a large header-only library: keeping it out of recipe.h keeps every file that
// reads a recipe quick to compile.
struct Recipe::Impl {
  toml::table root;
};

namespace {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_key(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

// The same characters TOML allows in a bare key, so an override names exactly the keys a
// recipe file can write without quotes.
bool is_bare_key(std::string_view part) {
  if (part.empty()) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// TOML documents must be UTF-8; a bare-string override with other bytes would make to_toml()
// write a file that cannot be read back.
bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and code points past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

const toml::node* find_node(const toml::table& root, std::string_view key) {
  const toml::table* cur = &root;
  const auto parts = split_key(key);
  for (size_t i = 0; i < parts.size(); ++i) {
    const toml::node* n = cur->get(parts[i]);
    if (n == nullptr) return nullptr;
    if (i + 1 == parts.size()) return n;
    cur = n->as_table();
    if (cur == nullptr) return nullptr;
  }
  return nullptr;
}

// A TOML basic string: always double-quoted, with the escapes TOML requires (it allows no
// raw control characters other than tab, and writing tab escaped too keeps lines clean).
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        else
          out += ch;
    }
  }
  return out + "\"";
}

std::string format_key(std::string_view k) {
  return is_bare_key(k) ? std::string(k) : quote(k);
}

// Shortest text that reads back as the same double (toml++'s own printer writes 17
// significant digits here, turning 0.1 into 0.10000000000000001). TOML floats need a '.' or
// an exponent, and spell the specials inf and nan.
std::string format_float(double d) {
  if (std::isnan(d)) return std::signbit(d) ? "-nan" : "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// One value as TOML text on a single line; tables inside arrays become inline tables.
std::string format_value(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return quote(n.as_string()->get());
    case toml::node_type::integer:
      return fmt::format("{}", n.as_integer()->get());
    case toml::node_type::floating_point:
      return format_float(n.as_floating_point()->get());
    case toml::node_type::boolean:
      return n.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array: {
      std::string out = "[";
      const toml::array& arr = *n.as_array();
      for (size_t i = 0; i < arr.size(); ++i) out += (i ? ", " : "") + format_value(*arr.get(i));
      return out + "]";
    }
    case toml::node_type::table: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : *n.as_table()) {
        out += (first ? " " : ", ") + format_key(k.str()) + " = " + format_value(v);
        first = false;
      }
      return out + (first ? "}" : " }");
    }
    default: {
      // Dates and times: toml++ prints them in TOML's own syntax.
      std::ostringstream os;
      n.visit([&os](const auto& v) { os << v; });
      return os.str();
    }
  }
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "value";
}

// "string \"abc\"", "float 0.5", "array [1, 2]": the type and the value as the user would
// have written it, cut short so the error stays one readable line.
std::string describe(const toml::node& n) {
  std::string out = type_name(n);
  if (n.is_table()) return out;
  std::string text = format_value(n);
  constexpr size_t kMax = 60;
  if (text.size() > kMax) {
    size_t cut = kMax;
    // Back up to a character boundary so the message stays valid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  return out + " " + text;
}

// Keys and values first, then each sub-table under its own [header], so the saved recipe
// reads like a hand-written one.
void emit_table(const toml::table& t, const std::string& path, std::string& out) {
  for (const auto& [k, v] : t)
    if (!v.is_table()) out += format_key(k.str()) + " = " + format_value(v) + "\n";
  for (const auto& [k, v] : t) {
    if (!v.is_table()) continue;
    const std::string sub = (path.empty() ? "" : path + ".") + format_key(k.str());
    if (!out.empty()) out += "\n";
    out += "[" + sub + "]\n";
    emit_table(*v.as_table(), sub, out);
  }
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so the common
// typo "trian" is one edit from "train".
size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string_view last_part(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::string suggest(std::string_view unknown, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const auto& k : known) {
    const size_t d = edit_distance(unknown, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  // Only close matches are worth suggesting; a far-off one would mislead.
  const size_t limit = std::max<size_t>(2, unknown.size() / 3);
  if (!best.empty() && best_d <= limit) return best;
  // A key written in the wrong table ("lr" instead of "train.lr") is far by edit distance
  // but has the same last part.
  for (const auto& k : known)
    if (last_part(k) == last_part(unknown)) return k;
  return {};
}

void collect_leaves(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [k, v] : t) {
    std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table())
      collect_leaves(*sub, path, out);
    else
      out.push_back(std::move(path));
  }
}

}  // namespace

Recipe::Recipe() : impl_(std::make_unique<Impl>()) {}
Recipe::Recipe(const Recipe& other) : impl_(std::make_unique<Impl>(*other.impl_)), name_(other.name_) {}
Recipe::Recipe(Recipe&& other) noexcept = default;
Recipe& Recipe::operator=(const Recipe& other) {
  if (this != &other) {
    impl_ = std::make_unique<Impl>(*other.impl_);
    name_ = other.name_;
  }
  return *this;
}
Recipe& Recipe::operator=(Recipe&& other) noexcept = default;
Recipe::~Recipe() = default;

Recipe Recipe::load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("{}: cannot read recipe: is a directory", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open recipe: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: cannot read recipe: {}", path, std::strerror(errno));
  require_utf8(ss.view(), path);
  return parse(ss.str(), path);
}

Recipe Recipe::parse(std::string_view text, std::string name) {
  Recipe r;
  r.name_ = std::move(name);
  try {
    r.impl_->root = toml::parse(text, std::string_view(r.name_));
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    fail("{}:{}:{}: {}", r.name_, e.source().begin.line, e.source().begin.column, desc);
  }
  return r;
}

namespace {

// The dotted key split and checked; `what` names the override in errors.
std::vector<std::string_view> checked_key(std::string_view what, std::string_view key) {
  if (key.empty()) fail("override '{}': empty key (expected key=value, e.g. train.lr=3e-4)", what);
  const auto parts = split_key(key);
  for (const auto part : parts)
    if (!is_bare_key(part))
      fail("override '{}': bad key '{}' (use dotted names of letters, digits, '_' and '-')", what, key);
  return parts;
}

// Puts the value (the node "v" of `parsed`) at the key, creating missing tables.
void assign(toml::table& root, std::string_view what, std::string_view key,
            const std::vector<std::string_view>& parts, toml::table& parsed) {
  toml::node* new_value = parsed.get("v");
  R1_CHECK(new_value != nullptr);
  toml::table* cur = &root;
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (i > 0) prefix += '.';
    prefix += parts[i];
    toml::node* n = cur->get(parts[i]);
    if (n == nullptr) {
      cur->insert(parts[i], toml::table{});
      n = cur->get(parts[i]);
    } else if (!n->is_table()) {
      fail("override '{}': '{}' is {}, not a table", what, prefix, describe(*n));
    }
    cur = n->as_table();
  }
  const std::string_view leaf = parts.back();
  const toml::node* old = cur->get(leaf);
  // Replacing a whole table with one value would silently drop every key under it.
  if (old != nullptr && old->is_table() && !new_value->is_table())
    fail("override '{}': '{}' is a table; set one of its keys instead", what, key);
  new_value->visit([&](auto& v) { cur->insert_or_assign(leaf, std::move(v)); });
}

}  // namespace

void Recipe::set(std::string_view assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos)
    fail("override '{}': missing '=' (expected key=value, e.g. train.lr=3e-4)", assignment);
  const std::string_view key = trim(assignment.substr(0, eq));
  const std::string_view value = trim(assignment.substr(eq + 1));
  const auto parts = checked_key(assignment, key);

  // Parse the value as the right-hand side of a TOML assignment. Exactly one key must come
  // out, so a value like "1\nx = 2" cannot smuggle in other keys; anything else is a bare string.
  toml::table parsed;
  bool is_toml = false;
  try {
    parsed = toml::parse("v = " + std::string(value));
    is_toml = parsed.size() == 1 && parsed.contains("v");
  } catch (const toml::parse_error&) {
    is_toml = false;
  }
  if (!is_toml) {
    if (!is_valid_utf8(value)) fail("override '{}': value is not valid UTF-8", assignment);
    parsed = toml::table{};
    parsed.insert("v", std::string(value));
  }
  assign(impl_->root, assignment, key, parts, parsed);
}

void Recipe::set_string(std::string_view key, const std::string& value) {
  const std::string what = fmt::format("{}={}", key, value);
  const auto parts = checked_key(what, key);
  if (!is_valid_utf8(value)) fail("override '{}': value is not valid UTF-8", what);
  toml::table parsed;
  parsed.insert("v", value);
  assign(impl_->root, what, key, parts, parsed);
}

void Recipe::erase(std::string_view key) {
  const size_t dot = key.rfind('.');
  toml::node* parent = dot == std::string_view::npos
                           ? &impl_->root
                           : const_cast<toml::node*>(find_node(impl_->root, key.substr(0, dot)));
  if (parent && parent->is_table())
    parent->as_table()->erase(key.substr(dot == std::string_view::npos ? 0 : dot + 1));
}

bool Recipe::has(std::string_view key) const {
  return find_node(impl_->root, key) != nullptr;
}

std::vector<std::string> Recipe::keys_under(std::string_view key) const {
  std::vector<std::string> out;
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) return out;
  const toml::table* t = n->as_table();
  if (t == nullptr) fail("{}: key '{}' must be a table, got {}", name_, key, describe(*n));
  for (const auto& [k, v] : *t) out.emplace_back(k.str());
  std::sort(out.begin(), out.end());
  return out;
}

Recipe Recipe::table(std::string_view key, std::string name) const {
  Recipe out;
  out.name_ = std::move(name);
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) return out;
  const toml::table* t = n->as_table();
  if (t == nullptr) fail("{}: key '{}' must be a table, got {}", name_, key, describe(*n));
  out.impl_->root = *t;
  return out;
}

namespace {

[[noreturn]] void missing(const std::string& name, std::string_view key) {
  fail("{}: missing key '{}'", name, key);
}

[[noreturn]] void wrong_type(const std::string& name, std::string_view key, const char* want,
                             const toml::node& n) {
  fail("{}: key '{}' must be {}, got {}", name, key, want, describe(n));
}

int64_t to_int(const std::string& name, std::string_view key, const toml::node& n) {
  if (const auto* v = n.as_integer()) return v->get();
  if (const auto* f = n.as_floating_point()) {
    const double d = f->get();
    // 2^63 is exactly representable; anything at or past it does not fit in int64_t.
    if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
      return static_cast<int64_t>(d);
  }
  wrong_type(name, key, "an integer", n);
}

double to_float(const std::string& name, std::string_view key, const toml::node& n) {
  if (const auto* f = n.as_floating_point()) return f->get();
  if (const auto* v = n.as_integer()) return static_cast<double>(v->get());
  wrong_type(name, key, "a number", n);
}

std::string to_string(const std::string& name, std::string_view key, const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  wrong_type(name, key, "a string", n);
}

bool to_bool(const std::string& name, std::string_view key, const toml::node& n) {
  if (const auto* b = n.as_boolean()) return b->get();
  wrong_type(name, key, "a boolean (true or false)", n);
}

std::vector<double> to_float_array(const std::string& name, std::string_view key, const toml::node& n) {
  const auto* arr = n.as_array();
  if (arr == nullptr) wrong_type(name, key, "an array of numbers", n);
  std::vector<double> out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (const auto* f = e.as_floating_point())
      out.push_back(f->get());
    else if (const auto* v = e.as_integer())
      out.push_back(static_cast<double>(v->get()));
    else
      fail("{}: key '{}' must be an array of numbers, but element {} is {}", name, key, i, describe(e));
  }
  return out;
}

}  // namespace

int64_t Recipe::get_int(std::string_view key, int64_t def) const {
  const toml::node* n = find_node(impl_->root, key);
  return n ? to_int(name_, key, *n) : def;
}
int64_t Recipe::get_int(std::string_view key) const {
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) missing(name_, key);
  return to_int(name_, key, *n);
}
double Recipe::get_float(std::string_view key, double def) const {
  const toml::node* n = find_node(impl_->root, key);
  return n ? to_float(name_, key, *n) : def;
}
double Recipe::get_float(std::string_view key) const {
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) missing(name_, key);
  return to_float(name_, key, *n);
}
std::string Recipe::get_string(std::string_view key, const std::string& def) const {
  const toml::node* n = find_node(impl_->root, key);
  return n ? to_string(name_, key, *n) : def;
}
std::string Recipe::get_string(std::string_view key) const {
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) missing(name_, key);
  return to_string(name_, key, *n);
}
bool Recipe::get_bool(std::string_view key, bool def) const {
  const toml::node* n = find_node(impl_->root, key);
  return n ? to_bool(name_, key, *n) : def;
}
bool Recipe::get_bool(std::string_view key) const {
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) missing(name_, key);
  return to_bool(name_, key, *n);
}
std::vector<double> Recipe::get_float_array(std::string_view key, const std::vector<double>& def) const {
  const toml::node* n = find_node(impl_->root, key);
  return n ? to_float_array(name_, key, *n) : def;
}
std::vector<double> Recipe::get_float_array(std::string_view key) const {
  const toml::node* n = find_node(impl_->root, key);
  if (n == nullptr) missing(name_, key);
  return to_float_array(name_, key, *n);
}

void Recipe::check_known(const std::vector<std::string>& known_keys) const {
  std::vector<std::string> leaves;
  collect_leaves(impl_->root, "", leaves);
  std::sort(leaves.begin(), leaves.end());
  for (const auto& leaf : leaves) {
    if (std::find(known_keys.begin(), known_keys.end(), leaf) != known_keys.end()) continue;
    const std::string hint = suggest(leaf, known_keys);
    if (hint.empty()) fail("{}: unknown key '{}'", name_, leaf);
    fail("{}: unknown key '{}' (did you mean '{}'?)", name_, leaf, hint);
  }
}

namespace {

// A bound as the user would write it: 1, 0.5, 1e-08.
std::string bound_text(double d) {
  return fmt::format("{}", d);
}

}  // namespace

std::string KeyRule::range_text() const {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi)
    return fmt::format("in {}{}, {}{}", lo_open ? "(" : "[", bound_text(lo), bound_text(hi),
                       hi_open ? ")" : "]");
  if (has_lo) return fmt::format("{} {}", lo_open ? ">" : ">=", bound_text(lo));
  if (has_hi) return fmt::format("{} {}", hi_open ? "<" : "<=", bound_text(hi));
  return "a finite number";
}

KeyRule KeyRule::integer(std::string key, int64_t lo, int64_t hi) {
  KeyRule r;
  r.key = std::move(key);
  r.type = Type::kInt;
  r.lo = static_cast<double>(lo);
  r.hi = static_cast<double>(hi);
  return r;
}
KeyRule KeyRule::int_at_least(std::string key, int64_t lo) {
  KeyRule r = integer(std::move(key), lo, 0);
  r.hi = std::numeric_limits<double>::infinity();
  return r;
}
KeyRule KeyRule::real(std::string key, double lo, double hi, bool lo_open, bool hi_open) {
  KeyRule r;
  r.key = std::move(key);
  r.type = Type::kFloat;
  r.lo = lo, r.hi = hi, r.lo_open = lo_open, r.hi_open = hi_open;
  return r;
}
KeyRule KeyRule::positive(std::string key) {
  return real(std::move(key), 0, std::numeric_limits<double>::infinity(), true);
}
KeyRule KeyRule::non_negative(std::string key) {
  return real(std::move(key), 0, std::numeric_limits<double>::infinity());
}
KeyRule KeyRule::finite(std::string key) {
  const double inf = std::numeric_limits<double>::infinity();
  return real(std::move(key), -inf, inf);
}
KeyRule KeyRule::boolean(std::string key) {
  KeyRule r;
  r.key = std::move(key);
  r.type = Type::kBool;
  return r;
}
KeyRule KeyRule::string(std::string key, std::vector<std::string> choices) {
  KeyRule r;
  r.key = std::move(key);
  r.type = Type::kString;
  r.choices = std::move(choices);
  return r;
}
KeyRule KeyRule::float_array(std::string key) {
  KeyRule r = finite(std::move(key));
  r.type = Type::kFloatArray;
  return r;
}

std::string format_rules(const std::vector<KeyRule>& rules) {
  std::vector<const KeyRule*> sorted;
  size_t width = 0;
  for (const KeyRule& k : rules) {
    sorted.push_back(&k);
    width = std::max(width, k.key.size());
  }
  std::sort(sorted.begin(), sorted.end(), [](const KeyRule* a, const KeyRule* b) { return a->key < b->key; });
  std::string out;
  for (const KeyRule* k : sorted) {
    std::string what;
    switch (k->type) {
      case KeyRule::Type::kInt:
        what = "integer " + k->range_text();
        break;
      case KeyRule::Type::kFloat:
        what = "number  " + k->range_text();
        break;
      case KeyRule::Type::kBool:
        what = "boolean";
        break;
      case KeyRule::Type::kString:
        what = "string";
        for (size_t i = 0; i < k->choices.size(); i++) what += (i ? ", " : "  one of ") + k->choices[i];
        break;
      case KeyRule::Type::kFloatArray:
        what = "array of numbers " + k->range_text();
        break;
    }
    out += fmt::format("{:<{}}  {}\n", k->key, width, what);
  }
  return out;
}

void Recipe::check(const std::vector<KeyRule>& rules) const {
  std::vector<std::string> keys;
  keys.reserve(rules.size());
  for (const KeyRule& k : rules) keys.push_back(k.key);
  // Two rules for one key would make every value of it wrong for one of them: a bug in the
  // caller's rules, caught by any run (and test) that checks a recipe against them.
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  if (const auto d = std::adjacent_find(sorted.begin(), sorted.end()); d != sorted.end())
    throw std::logic_error("recipe rules: key '" + *d + "' has two rules");
  check_known(keys);
  auto in_range = [](const KeyRule& k, double v) {
    if (!std::isfinite(v)) return false;
    if (k.lo_open ? !(v > k.lo) : !(v >= k.lo)) return false;
    if (k.hi_open ? !(v < k.hi) : !(v <= k.hi)) return false;
    return true;
  };
  auto check_number = [&](const KeyRule& k, double v, const toml::node& n) {
    if (!std::isfinite(v))
      fail("{}: key '{}' must be a finite number, got {}", name_, k.key, format_value(n));
    if (!in_range(k, v))
      fail("{}: key '{}' must be {}, got {}", name_, k.key, k.range_text(), format_value(n));
  };
  for (const KeyRule& k : rules) {
    const toml::node* n = find_node(impl_->root, k.key);
    if (n == nullptr) continue;
    switch (k.type) {
      case KeyRule::Type::kInt:
        check_number(k, static_cast<double>(to_int(name_, k.key, *n)), *n);
        break;
      case KeyRule::Type::kFloat:
        check_number(k, to_float(name_, k.key, *n), *n);
        break;
      case KeyRule::Type::kBool:
        to_bool(name_, k.key, *n);
        break;
      case KeyRule::Type::kString: {
        const std::string v = to_string(name_, k.key, *n);
        if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end()) {
          std::string list;
          for (const auto& c : k.choices) list += (list.empty() ? "" : ", ") + c;
          fail("{}: key '{}' must be one of {}, got {}", name_, k.key, list, describe(*n));
        }
        break;
      }
      case KeyRule::Type::kFloatArray:
        for (const double v : to_float_array(name_, k.key, *n)) {
          if (!std::isfinite(v))
            fail("{}: key '{}' must hold finite numbers, got {}", name_, k.key, describe(*n));
          if (!in_range(k, v))
            fail("{}: key '{}' must hold numbers {}, got {}", name_, k.key, k.range_text(), describe(*n));
        }
        break;
    }
  }
}

std::vector<std::string> Recipe::differences(const Recipe& before, const Recipe& after,
                                             const std::vector<std::string>& ignore) {
  std::vector<std::string> a, b;
  collect_leaves(before.impl_->root, "", a);
  collect_leaves(after.impl_->root, "", b);
  std::vector<std::string> keys = a;
  keys.insert(keys.end(), b.begin(), b.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::string> out;
  for (const auto& k : keys) {
    if (std::find(ignore.begin(), ignore.end(), k) != ignore.end()) continue;
    const toml::node* x = find_node(before.impl_->root, k);
    const toml::node* y = find_node(after.impl_->root, k);
    const std::string vx = x ? format_value(*x) : "(absent)", vy = y ? format_value(*y) : "(absent)";
    if (vx != vy) out.push_back(fmt::format("{}: {} -> {}", k, vx, vy));
  }
  return out;
}

std::string Recipe::to_toml() const {
  std::string out;
  emit_table(impl_->root, "", out);
  return out;
}

}  // namespace r1
