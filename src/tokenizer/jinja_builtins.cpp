// The Jinja builtins: filters, tests, the str/dict/list methods templates call, and the globals
// (range, namespace, dict, raise_exception, strftime_now). Each follows jinja2 3.1's (and
// Python's) behaviour, including what it does with undefined values.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <utility>

#include "core/error.h"
#include "tokenizer/jinja_internal.h"

namespace r1::jinja::detail {
namespace {

// --- helpers ------------------------------------------------------------------------------------

std::string soft_str(const Value& v, Interp& in) {
  return v.kind == Kind::Str ? v.str() : py_str(v, in);
}

const std::string& need_str(Interp& in, const Value& v, std::string_view what) {
  if (v.kind != Kind::Str) in.fail(fmt::format("{} must be a string, not {}", what, type_name(v)));
  return v.str();
}

int64_t need_int(Interp& in, const Value& v, std::string_view what) {
  if (v.kind == Kind::Bool) return v.b ? 1 : 0;
  if (v.kind != Kind::Int) in.fail(fmt::format("{} must be an integer, not {}", what, type_name(v)));
  return v.i;
}

bool opt_bool(const std::optional<Value>& v, bool dflt) {
  return v ? truthy(*v) : dflt;
}

double to_double(const Value& v) {
  if (v.kind == Kind::Float) return v.f;
  if (v.kind == Kind::Bool) return v.b ? 1 : 0;
  return static_cast<double>(v.i);
}

Value list_of(std::vector<Value> items) {
  return Value::make_list(std::move(items));
}
Value generator_of(std::vector<Value> items) {
  return Value::make_seq(std::move(items), Seq::Generator);
}

// The filters that are Python generators in jinja2 compute their items here, eagerly, but keep
// an error for when the generator is consumed, as jinja2's lazy evaluation would raise it.
Value lazy_generator(Interp& in, const Value& v, CallArgs& a,
                     Value (*produce)(Interp&, const Value&, CallArgs&)) {
  try {
    return produce(in, v, a);
  } catch (const Error& e) {
    return Value::failed_generator(e.what());
  }
}

// Python's str.strip family: chars are a set of code points (whitespace when absent).
std::string strip_chars(std::string_view s, const std::optional<Value>& chars, bool left, bool right,
                        Interp& in) {
  std::u32string set;
  const bool ws = !chars || chars->kind == Kind::None;
  if (!ws) set = utf8_decode(need_str(in, *chars, "strip argument"));
  const std::u32string cs = utf8_decode(s);
  auto strip = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != std::u32string::npos; };
  size_t b = 0, e = cs.size();
  if (left)
    while (b < e && strip(cs[b])) ++b;
  if (right)
    while (e > b && strip(cs[e - 1])) --e;
  return utf8_encode(std::u32string_view(cs).substr(b, e - b));
}

// Python's str.split / str.rsplit.
std::vector<Value> split(std::string_view s, const std::optional<Value>& sep_v, int64_t maxsplit,
                         bool from_right, Interp& in) {
  std::vector<std::string> parts;
  if (sep_v && sep_v->kind != Kind::None) {
    const std::string& sep = need_str(in, *sep_v, "separator");
    if (sep.empty()) in.fail("empty separator");
    if (!from_right) {
      size_t pos = 0;
      for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
        const size_t f = s.find(sep, pos);
        if (f == std::string_view::npos) break;
        parts.emplace_back(s.substr(pos, f - pos));
        pos = f + sep.size();
      }
      parts.emplace_back(s.substr(pos));
    } else {
      size_t end = s.size();
      for (int64_t n = 0; maxsplit < 0 || n < maxsplit; ++n) {
        if (end < sep.size()) break;
        const size_t f = s.rfind(sep, end - sep.size());
        if (f == std::string_view::npos) break;
        parts.emplace_back(s.substr(f + sep.size(), end - f - sep.size()));
        end = f;
      }
      parts.emplace_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
  } else {
    const std::u32string cs = utf8_decode(s);
    const size_t n = cs.size();
    std::vector<std::u32string> ps;
    if (!from_right) {
      size_t i = 0;
      for (;;) {
        while (i < n && py_isspace(cs[i])) ++i;
        if (i == n) break;
        if (maxsplit >= 0 && static_cast<int64_t>(ps.size()) == maxsplit) {
          ps.push_back(cs.substr(i));
          break;
        }
        size_t j = i;
        while (j < n && !py_isspace(cs[j])) ++j;
        ps.push_back(cs.substr(i, j - i));
        i = j;
      }
    } else {
      size_t i = n;
      for (;;) {
        while (i > 0 && py_isspace(cs[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(ps.size()) == maxsplit) {
          ps.push_back(cs.substr(0, i));
          break;
        }
        size_t j = i;
        while (j > 0 && !py_isspace(cs[j - 1])) --j;
        ps.push_back(cs.substr(j, i - j));
        i = j;
      }
      std::reverse(ps.begin(), ps.end());
    }
    for (const auto& p : ps) parts.push_back(utf8_encode(p));
  }
  in.check_items(parts.size());
  in.charge(parts.size());
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

std::string replace_all(std::string_view s, std::string_view old, std::string_view repl, int64_t count,
                        Interp& in) {
  std::string out;
  if (old.empty()) {
    // Python inserts repl before every character and at the end.
    const std::u32string cs = utf8_decode(s);
    int64_t n = 0;
    for (char32_t c : cs) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      utf8_append(out, c);
      in.check_size(out.size());
    }
    if (count < 0 || n < count) out += repl;
    return out;
  }
  size_t pos = 0;
  for (int64_t n = 0; count < 0 || n < count; ++n) {
    const size_t f = s.find(old, pos);
    if (f == std::string_view::npos) break;
    out += s.substr(pos, f - pos);
    out += repl;
    in.check_size(out.size());
    pos = f + old.size();
  }
  out += s.substr(pos);
  in.check_size(out.size());
  return out;
}

// Python's str.splitlines() boundaries.
bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  const std::u32string cs = utf8_decode(s);
  std::vector<std::string> lines;
  size_t i = 0;
  const size_t n = cs.size();
  while (i < n) {
    size_t j = i;
    while (j < n && !is_line_break(cs[j])) ++j;
    size_t e = j;
    if (j < n) e = (cs[j] == '\r' && j + 1 < n && cs[j + 1] == '\n') ? j + 2 : j + 1;
    lines.push_back(utf8_encode(std::u32string_view(cs).substr(i, (keepends ? e : j) - i)));
    i = e;
  }
  return lines;
}

bool is_cased(char32_t c) {
  std::string one;
  utf8_append(one, c);
  return str_lower(one) != one || str_upper(one) != one;
}

// Python's str.title(): a cased character after an uncased one starts a word.
std::string py_title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : utf8_decode(s)) {
    std::string one;
    utf8_append(one, c);
    const bool cased = is_cased(c);
    out += cased ? (prev_cased ? str_lower(one) : str_upper(one)) : one;
    prev_cased = cased;
  }
  return out;
}

std::string py_capitalize(std::string_view s) {
  const std::u32string cs = utf8_decode(s);
  if (cs.empty()) return "";
  std::string first;
  utf8_append(first, cs[0]);
  return str_upper(first) + str_lower(utf8_encode(std::u32string_view(cs).substr(1)));
}

int64_t find_cp(std::string_view s, std::string_view sub, bool reverse) {
  const size_t f = reverse ? s.rfind(sub) : s.find(sub);
  if (f == std::string_view::npos) return -1;
  return static_cast<int64_t>(utf8_length(s.substr(0, f)));
}

bool all_chars(std::string_view s, bool (*pred)(char32_t)) {
  const std::u32string cs = utf8_decode(s);
  if (cs.empty()) return false;
  for (char32_t c : cs)
    if (!pred(c)) return false;
  return true;
}

bool is_alpha(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x80 && is_cased(c));
}
bool is_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char32_t c) {
  return is_alpha(c) || is_digit(c);
}
bool is_word(char32_t c) {
  return is_alnum(c) || c == '_' || (c >= 0x80 && !py_isspace(c));
}

bool has_cased(std::string_view s, bool upper) {
  bool any = false;
  for (char32_t c : utf8_decode(s)) {
    if (!is_cased(c)) continue;
    std::string one;
    utf8_append(one, c);
    if ((upper ? str_upper(one) : str_lower(one)) != one) return false;
    any = true;
  }
  return any;
}

// --- filters ------------------------------------------------------------------------------------

// An attribute getter as jinja2's make_attrgetter: dotted parts, all-digit parts index, and a
// default that replaces an undefined result after each part.
Value get_attribute_path(Interp& in, Value v, const Value& attr,
                         const std::optional<Value>& dflt = std::nullopt) {
  auto apply_default = [&](Value r) {
    return dflt && dflt->kind != Kind::None && r.is_undefined() ? *dflt : r;
  };
  if (attr.kind != Kind::Str) return apply_default(in.getitem(v, attr));
  std::string_view path = attr.str();
  size_t pos = 0;
  for (;;) {
    const size_t dot = path.find('.', pos);
    const std::string_view part =
        path.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    int64_t idx = 0;
    const bool digits =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    const auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
    if (digits && r.ec == std::errc())
      v = apply_default(in.getitem(v, Value::integer(idx)));
    else
      v = apply_default(in.getitem(v, Value::string(std::string(part))));
    if (dot == std::string_view::npos) return v;
    pos = dot + 1;
  }
}

// Python's % for numbers (the sign follows the divisor); TypeError for anything else.
Value py_mod(Interp& in, const Value& a, const Value& b) {
  if (a.is_undefined()) in.fail(a.str());
  if (b.is_undefined()) in.fail(b.str());
  if (a.kind == Kind::Str) in.fail("not all arguments converted during string formatting");
  if (!a.is_number() || !b.is_number())
    in.fail(fmt::format("unsupported operand type(s) for %: '{}' and '{}'", type_name(a), type_name(b)));
  if (a.kind != Kind::Float && b.kind != Kind::Float) {
    const int64_t x = a.kind == Kind::Bool ? a.b : a.i, y = b.kind == Kind::Bool ? b.b : b.i;
    if (y == 0) in.fail("integer division or modulo by zero");
    if (y == -1) return Value::integer(0);
    int64_t m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::integer(m);
  }
  const double x = to_double(a), y = to_double(b);
  if (y == 0) in.fail("float modulo");
  double m = std::fmod(x, y);
  if (m != 0) {
    if ((y < 0) != (m < 0)) m += y;
  } else {
    m = std::copysign(0.0, y);
  }
  return Value::number(m);
}

// The sort key of jinja2's sort/unique/min/max/dictsort: lowercased strings unless case_sensitive.
Value sort_key(Interp& in, const Value& v, const std::optional<Value>& attribute, bool case_sensitive) {
  Value k = attribute && attribute->kind != Kind::None ? get_attribute_path(in, v, *attribute) : v;
  if (!case_sensitive && k.kind == Kind::Str) return Value::string(str_lower(k.str()));
  return k;
}

Value f_default(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "default", {"default_value", "boolean"});
  const Value dflt = b[0] ? *b[0] : Value::string("");
  if (v.is_undefined() || (opt_bool(b[1], false) && !truthy(v))) return dflt;
  return v;
}

Value f_length(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "length", {});
  return Value::integer(py_len(v, in));
}

Value f_string(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "string", {});
  return Value::string(soft_str(v, in));
}

Value f_trim(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "trim", {"chars"});
  return Value::string(strip_chars(soft_str(v, in), b[0], true, true, in));
}

Value f_upper(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "upper", {});
  return Value::string(str_upper(soft_str(v, in)));
}

Value f_lower(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "lower", {});
  return Value::string(str_lower(soft_str(v, in)));
}

Value f_capitalize(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "capitalize", {});
  return Value::string(py_capitalize(soft_str(v, in)));
}

// jinja2's title: words start after runs of '-', whitespace, '(', '{', '[' or '<'.
Value f_title(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "title", {});
  std::string out;
  bool word_start = true;
  for (char32_t c : utf8_decode(soft_str(v, in))) {
    std::string one;
    utf8_append(one, c);
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    if (sep) {
      out += one;
      word_start = true;
    } else {
      out += word_start ? str_upper(one) : str_lower(one);
      word_start = false;
    }
  }
  return Value::string(std::move(out));
}

Value f_replace(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "replace", {"old", "new", "count"});
  if (!b[0] || !b[1]) in.fail("replace() needs old and new");
  const int64_t count = b[2] && b[2]->kind != Kind::None ? need_int(in, *b[2], "count") : -1;
  return Value::string(replace_all(soft_str(v, in), soft_str(*b[0], in), soft_str(*b[1], in), count, in));
}

Value f_join(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "join", {"d", "attribute"});
  const std::string sep = b[0] ? soft_str(*b[0], in) : "";
  std::string out;
  bool first = true;
  for (const Value& item : py_iterate(v, in)) {
    in.step();
    if (!first) out += sep;
    first = false;
    out += soft_str(b[1] && b[1]->kind != Kind::None ? get_attribute_path(in, item, *b[1]) : item, in);
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_first(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "first", {});
  if (v.kind == Kind::List && v.list->once()) {  // takes one item from a generator
    const ListObj& l = *v.list;
    l.consume();
    if (l.next >= l.items.size()) return Value::undefined("No first item, sequence was empty.");
    return l.items[l.next++];
  }
  if (v.kind == Kind::List && !v.list->items.empty()) return v.list->items.front();
  std::vector<Value> items = py_iterate(v, in);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "last", {});
  if (v.kind == Kind::List && v.list->once())
    in.fail(fmt::format("'{}' object is not reversible", type_name(v)));
  if (v.kind == Kind::List && !v.list->items.empty()) return v.list->items.back();
  std::vector<Value> items = py_iterate(v, in);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_list(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "list", {});
  return list_of(py_iterate(v, in));
}

Value f_items_eager(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "items", {});
  if (v.is_undefined()) return generator_of({});
  if (v.kind != Kind::Dict) in.fail("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& kv : v.dict->items) out.push_back(Value::make_list({kv.first, kv.second}, true));
  return generator_of(std::move(out));
}
Value f_items(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_items_eager);
}

Value f_tojson(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions opt;
  opt.ensure_ascii = opt_bool(b[0], false);
  opt.sort_keys = opt_bool(b[3], false);
  if (b[1] && b[1]->kind != Kind::None) {
    if (b[1]->kind == Kind::Str)
      opt.indent = b[1]->str();
    else
      opt.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(in, *b[1], "indent"))), ' ');
    opt.item_sep = ",";
  }
  if (b[2] && b[2]->kind != Kind::None) {
    const std::vector<Value> seps = py_iterate(*b[2], in);
    if (seps.size() != 2) in.fail("separators must be a pair (item_separator, key_separator)");
    opt.item_sep = need_str(in, seps[0], "item separator");
    opt.key_sep = need_str(in, seps[1], "key separator");
  }
  return Value::string(py_json(v, opt, in));
}

Value f_abs(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "abs", {});
  if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
  if (v.kind == Kind::Int || v.kind == Kind::Bool) {
    const int64_t i = v.kind == Kind::Bool ? v.b : v.i;
    if (i == std::numeric_limits<int64_t>::min()) in.fail("integer overflow (integers are 64-bit)");
    return Value::integer(i < 0 ? -i : i);
  }
  if (v.is_undefined()) in.fail(v.str());
  in.fail(fmt::format("bad operand type for abs(): '{}'", type_name(v)));
}

// Python's float(str): surrounding whitespace, underscores between digits, inf/nan.
std::optional<double> str_to_double(std::string_view text, Interp& in) {
  std::string s = strip_chars(text, std::nullopt, true, true, in);
  std::string t;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_') {
      if (k == 0 || k + 1 == s.size() || !is_digit(static_cast<unsigned char>(s[k - 1])) ||
          !is_digit(static_cast<unsigned char>(s[k + 1])))
        return std::nullopt;
      continue;
    }
    t += s[k];
  }
  const std::string low = str_lower(t);
  std::string_view body = low;
  double sign = 1;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    sign = body[0] == '-' ? -1 : 1;
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") return sign * std::numeric_limits<double>::infinity();
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (body.empty() || body[0] == '+' || body[0] == '-') return std::nullopt;
  double d = 0;
  const auto r = std::from_chars(body.data(), body.data() + body.size(), d);
  if (r.ec == std::errc::result_out_of_range) return sign * std::numeric_limits<double>::infinity();
  if (r.ec != std::errc() || r.ptr != body.data() + body.size()) return std::nullopt;
  return sign * d;
}

std::optional<int64_t> str_to_int(std::string_view text, int64_t base, Interp& in) {
  std::string s = strip_chars(text, std::nullopt, true, true, in);
  std::string_view body = s;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body.size() >= 2 && body[0] == '0') {
    const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(body[1])));
    const int64_t pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (pb != 0 && (base == pb || base == 0)) {
      base = pb;
      body.remove_prefix(2);
      if (!body.empty() && body[0] == '_') body.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36) return std::nullopt;
  std::string digits;
  for (size_t k = 0; k < body.size(); ++k) {
    if (body[k] == '_') {
      if (k == 0 || k + 1 == body.size() || body[k + 1] == '_') return std::nullopt;
      continue;
    }
    digits += body[k];
  }
  if (digits.empty()) return std::nullopt;
  uint64_t u = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), u, static_cast<int>(base));
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (neg ? 1 : 0)) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - u) : static_cast<int64_t>(u);
}

Value f_int(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "int", {"default", "base"});
  const Value dflt = b[0] ? *b[0] : Value::integer(0);
  const int64_t base = b[1] ? need_int(in, *b[1], "base") : 10;
  if (v.is_undefined()) in.fail(v.str());
  auto from_double = [&](double d) {
    if (std::isnan(d)) return dflt;
    if (std::isinf(d) || std::fabs(d) >= 9.2e18) in.fail("cannot convert float to a 64-bit integer");
    return Value::integer(static_cast<int64_t>(d));
  };
  switch (v.kind) {
    case Kind::Int:
      return v;
    case Kind::Bool:
      return Value::integer(v.b ? 1 : 0);
    case Kind::Float:
      return from_double(v.f);
    case Kind::Str: {
      if (auto i = str_to_int(v.str(), base, in)) return Value::integer(*i);
      if (auto d = str_to_double(v.str(), in)) return from_double(*d);
      return dflt;
    }
    default:
      return dflt;
  }
}

Value f_float(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "float", {"default"});
  const Value dflt = b[0] ? *b[0] : Value::number(0.0);
  if (v.is_undefined()) in.fail(v.str());
  if (v.is_number()) return Value::number(to_double(v));
  if (v.kind == Kind::Str)
    if (auto d = str_to_double(v.str(), in)) return Value::number(*d);
  return dflt;
}

// Python's round(x, n) on the exact binary value, ties to even.
double py_round(double x, int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n >= 0) {
    if (n > 300) return x;
    const std::string s = fmt::format("{:.{}f}", x, n);
    return std::strtod(s.c_str(), nullptr);
  }
  if (n < -308) return std::copysign(0.0, x);
  const double p = std::pow(10.0, static_cast<double>(-n));
  const double y = x / p;
  double r = std::nearbyint(y);
  return r * p;
}

Value f_round(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "round", {"precision", "method"});
  const int64_t precision = b[0] ? need_int(in, *b[0], "precision") : 0;
  const std::string method = b[1] ? need_str(in, *b[1], "method") : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    in.fail("method must be common, ceil or floor");
  if (v.is_undefined()) in.fail(v.str());
  if (!v.is_number()) in.fail(fmt::format("type {} doesn't define __round__ method", type_name(v)));
  if (method == "common") {
    if (v.kind != Kind::Float && precision >= 0) return Value::integer(v.kind == Kind::Bool ? v.b : v.i);
    return Value::number(py_round(to_double(v), precision));
  }
  const double p = std::pow(10.0, static_cast<double>(precision));
  const double x = to_double(v) * p;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

// A string reversed; a generator as a reversed list; anything else as a reverse iterator.
Value f_reverse(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "reverse", {});
  if (v.kind == Kind::Str) {
    std::u32string cs = utf8_decode(v.str());
    std::reverse(cs.begin(), cs.end());
    return Value::string(utf8_encode(cs));
  }
  const bool once = v.kind == Kind::List && v.list->once();
  std::vector<Value> items = py_iterate(v, in);
  std::reverse(items.begin(), items.end());
  return once ? list_of(std::move(items)) : Value::make_seq(std::move(items), Seq::Reversed);
}

Value f_sort(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "sort", {"reverse", "case_sensitive", "attribute"});
  const bool reverse = opt_bool(b[0], false), cs = opt_bool(b[1], false);
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : py_iterate(v, in)) {
    Value k = sort_key(in, item, b[2], cs);
    keyed.emplace_back(std::move(k), std::move(item));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    in.step();
    return reverse ? py_less(y.first, x.first, in) : py_less(x.first, y.first, in);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return list_of(std::move(out));
}

Value f_dictsort(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "dictsort", {"case_sensitive", "by", "reverse"});
  const bool cs = opt_bool(b[0], false), reverse = opt_bool(b[2], false);
  const std::string by = b[1] ? need_str(in, *b[1], "by") : "key";
  if (by != "key" && by != "value") in.fail("You can only sort by either 'key' or 'value'");
  if (v.kind != Kind::Dict) in.fail(fmt::format("dictsort needs a mapping, not {}", type_name(v)));
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& kv : v.dict->items) {
    Value k = by == "key" ? kv.first : kv.second;
    if (!cs && k.kind == Kind::Str) k = Value::string(str_lower(k.str()));
    keyed.emplace_back(std::move(k), Value::make_list({kv.first, kv.second}, true));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    in.step();
    return reverse ? py_less(y.first, x.first, in) : py_less(x.first, y.first, in);
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return list_of(std::move(out));
}

Value f_unique_eager(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "unique", {"case_sensitive", "attribute"});
  const bool cs = opt_bool(b[0], false);
  std::vector<Value> seen, out;
  for (Value& item : py_iterate(v, in)) {
    Value k = sort_key(in, item, b[1], cs);
    bool dup = false;
    for (const Value& s : seen) {
      in.step();
      if (py_equal(s, k, in)) {
        dup = true;
        break;
      }
    }
    if (dup) continue;
    seen.push_back(std::move(k));
    out.push_back(std::move(item));
  }
  return generator_of(std::move(out));
}
Value f_unique(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_unique_eager);
}

Value min_max(Interp& in, const Value& v, CallArgs& a, bool want_max) {
  auto b = bind_args(in, a, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  const bool cs = opt_bool(b[0], false);
  std::vector<Value> items = py_iterate(v, in);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(in, items[0], b[1], cs);
  for (size_t k = 1; k < items.size(); ++k) {
    Value key = sort_key(in, items[k], b[1], cs);
    if (want_max ? py_less(best_key, key, in) : py_less(key, best_key, in)) {
      best = k;
      best_key = std::move(key);
    }
  }
  return items[best];
}
Value f_max(Interp& in, const Value& v, CallArgs& a) {
  return min_max(in, v, a, true);
}
Value f_min(Interp& in, const Value& v, CallArgs& a) {
  return min_max(in, v, a, false);
}

Value f_sum(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "sum", {"attribute", "start"});
  Value acc = b[1] ? *b[1] : Value::integer(0);
  for (const Value& item : py_iterate(v, in)) {
    const Value x = b[0] && b[0]->kind != Kind::None ? get_attribute_path(in, item, *b[0]) : item;
    if (!acc.is_number() || !x.is_number())
      in.fail(fmt::format("unsupported operand type(s) for +: '{}' and '{}'", type_name(acc), type_name(x)));
    if (acc.kind != Kind::Float && x.kind != Kind::Float) {
      int64_t r = 0;
      const int64_t p = acc.kind == Kind::Bool ? acc.b : acc.i, q = x.kind == Kind::Bool ? x.b : x.i;
      if (__builtin_add_overflow(p, q, &r)) in.fail("integer overflow (integers are 64-bit)");
      acc = Value::integer(r);
    } else {
      acc = Value::number(to_double(acc) + to_double(x));
    }
  }
  return acc;
}

// map, select, reject, selectattr and rejectattr yield nothing for a false value (jinja2
// checks `if value:` before anything else).
Value f_map_eager(Interp& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (!truthy(v)) return generator_of({});
  const std::vector<Value> items = py_iterate(v, in);
  if (a.pos.empty()) {
    std::optional<Value> attr, dflt;
    for (auto& [k, x] : a.kw) {
      if (k == "attribute")
        attr = x;
      else if (k == "default")
        dflt = x;
      else
        in.fail(fmt::format("map() got an unexpected keyword argument '{}'", k));
    }
    if (!attr) in.fail("map() needs a filter name or attribute=");
    for (const Value& item : items) out.push_back(get_attribute_path(in, item, *attr, dflt));
    return generator_of(std::move(out));
  }
  const std::string name = need_str(in, a.pos[0], "filter name");
  for (const Value& item : items) {
    CallArgs rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    out.push_back(in.filter(name, item, rest));
  }
  return generator_of(std::move(out));
}
Value f_map(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_map_eager);
}

Value select_impl(Interp& in, const Value& v, CallArgs& a, bool attr_mode, bool keep) {
  std::vector<Value> out;
  if (!truthy(v)) return generator_of({});
  size_t k = 0;
  std::optional<Value> attr;
  if (attr_mode) {
    if (a.pos.empty()) in.fail("selectattr/rejectattr need an attribute name");
    attr = a.pos[k++];
  }
  std::optional<std::string> test;
  if (k < a.pos.size()) test = need_str(in, a.pos[k++], "test name");
  for (const Value& item : py_iterate(v, in)) {
    in.step();
    const Value x = attr ? get_attribute_path(in, item, *attr) : item;
    bool ok;
    if (test) {
      CallArgs rest;
      rest.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(k), a.pos.end());
      rest.kw = a.kw;
      ok = in.test(*test, x, rest);
    } else {
      ok = truthy(x);
    }
    if (ok == keep) out.push_back(item);
  }
  return generator_of(std::move(out));
}
Value f_select_eager(Interp& in, const Value& v, CallArgs& a) {
  return select_impl(in, v, a, false, true);
}
Value f_select(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_select_eager);
}
Value f_reject_eager(Interp& in, const Value& v, CallArgs& a) {
  return select_impl(in, v, a, false, false);
}
Value f_reject(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_reject_eager);
}
Value f_selectattr_eager(Interp& in, const Value& v, CallArgs& a) {
  return select_impl(in, v, a, true, true);
}
Value f_selectattr(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_selectattr_eager);
}
Value f_rejectattr_eager(Interp& in, const Value& v, CallArgs& a) {
  return select_impl(in, v, a, true, false);
}
Value f_rejectattr(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_rejectattr_eager);
}

// jinja2's batch: lists of linecount items, the last padded with fill_with when given.
Value f_batch_eager(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "batch", {"linecount", "fill_with"});
  if (!b[0]) in.fail("batch() needs a line count");
  const int64_t n = need_int(in, *b[0], "linecount");
  std::vector<Value> out, cur;
  for (Value& item : py_iterate(v, in)) {
    if (static_cast<int64_t>(cur.size()) == n) out.push_back(list_of(std::exchange(cur, {})));
    cur.push_back(std::move(item));
  }
  if (!cur.empty()) {
    if (b[1] && b[1]->kind != Kind::None)
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*b[1]);
    out.push_back(list_of(std::move(cur)));
  }
  return generator_of(std::move(out));
}
Value f_batch(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_batch_eager);
}

// jinja2's slice: the items in `slices` columns, the first ones one longer.
Value f_slice_eager(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "slice", {"slices", "fill_with"});
  if (!b[0]) in.fail("slice() needs a count");
  const int64_t slices = need_int(in, *b[0], "slices");
  const std::vector<Value> seq = py_iterate(v, in);
  const auto length = static_cast<int64_t>(seq.size());
  if (slices <= 0)
    in.fail(slices == 0 ? "integer division or modulo by zero" : "slice count must be positive");
  in.check_items(static_cast<size_t>(std::min<int64_t>(slices, INT32_MAX)));
  const int64_t per = length / slices, extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t start = offset + k * per;
    if (k < extra) ++offset;
    const int64_t end = offset + (k + 1) * per;
    std::vector<Value> part(seq.begin() + start, seq.begin() + end);
    if (b[1] && b[1]->kind != Kind::None && k >= extra) part.push_back(*b[1]);
    out.push_back(list_of(std::move(part)));
  }
  return generator_of(std::move(out));
}
Value f_slice(Interp& in, const Value& v, CallArgs& a) {
  return lazy_generator(in, v, a, f_slice_eager);
}

// jinja2's attr filter looks up Python attributes only (methods, namespace attributes), never items.
Value f_attr(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "attr", {"name"});
  if (!b[0]) in.fail("attr() needs a name");
  const std::string name = soft_str(*b[0], in);
  if (v.is_undefined()) in.fail(v.str());
  if (auto m = find_method(v, name)) return *m;
  if (v.kind == Kind::Namespace || v.kind == Kind::Loop)
    if (const Value* x = v.dict->find(std::string_view(name))) return *x;
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_name(v), name));
}

Value f_escape(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "escape", {});
  std::string out;
  for (char c : soft_str(v, in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  in.check_size(out.size());
  return Value::string(std::move(out));
}

Value f_safe(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "safe", {});
  return Value::string(soft_str(v, in));
}

Value f_indent(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "indent", {"width", "first", "blank"});
  std::string ind;
  if (b[0] && b[0]->kind == Kind::Str)
    ind = b[0]->str();
  else
    ind =
        std::string(static_cast<size_t>(std::max<int64_t>(0, b[0] ? need_int(in, *b[0], "width") : 4)), ' ');
  const bool first = opt_bool(b[1], false), blank = opt_bool(b[2], false);
  if (v.is_undefined()) in.fail(v.str());
  if (v.kind != Kind::Str)
    in.fail(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", type_name(v)));
  // jinja2 appends a newline before splitting (so a trailing newline is kept).
  const std::vector<std::string> lines = splitlines(v.str() + "\n", false);
  std::string out;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k > 0) {
      out += '\n';
      if (blank || !lines[k].empty()) out += ind;
    }
    out += lines[k];
    in.check_size(out.size());
  }
  if (first) out = ind + out;
  return Value::string(std::move(out));
}

Value f_center(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "center", {"width"});
  const int64_t width = b[0] ? need_int(in, *b[0], "width") : 80;
  const std::string s = soft_str(v, in);
  const auto len = static_cast<int64_t>(utf8_length(s));
  if (len >= width) return Value::string(s);
  in.check_size(static_cast<size_t>(width));
  const int64_t marg = width - len;
  const int64_t left = marg / 2 + (marg & width & 1);
  return Value::string(std::string(static_cast<size_t>(left), ' ') + s +
                       std::string(static_cast<size_t>(marg - left), ' '));
}

Value f_truncate(Interp& in, const Value& v, CallArgs& a) {
  auto b = bind_args(in, a, "truncate", {"length", "killwords", "end", "leeway"});
  const int64_t length = b[0] ? need_int(in, *b[0], "length") : 255;
  const bool killwords = opt_bool(b[1], false);
  const std::string end = b[2] ? soft_str(*b[2], in) : "...";
  const int64_t leeway = b[3] && b[3]->kind != Kind::None ? need_int(in, *b[3], "leeway") : 5;
  const auto end_len = static_cast<int64_t>(utf8_length(end));
  if (length < end_len) in.fail("expected length >= len(end)");
  if (leeway < 0) in.fail("expected leeway >= 0");
  const std::u32string cs = utf8_decode(soft_str(v, in));
  const auto n = static_cast<int64_t>(cs.size());
  if (n <= length + leeway) return Value::string(utf8_encode(cs));
  std::string head = utf8_encode(std::u32string_view(cs).substr(0, static_cast<size_t>(length - end_len)));
  if (!killwords) {
    const size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return Value::string(head + end);
}

Value f_wordcount(Interp& in, const Value& v, CallArgs& a) {
  bind_args(in, a, "wordcount", {});
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(soft_str(v, in))) {
    const bool w = is_word(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

// jinja2's format: value % (kwargs or args).
Value f_format(Interp& in, const Value& v, CallArgs& a) {
  if (!a.kw.empty() && !a.pos.empty())
    in.fail("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.kw.empty()) {
    args = Value::make_dict();
    for (auto& [k, x] : a.kw) args.dict->set(Value::string(k), x);
  } else {
    args = Value::make_list(a.pos, true);
  }
  return Value::string(py_percent_format(in, soft_str(v, in), args));
}

// --- tests --------------------------------------------------------------------------------------

void no_args(Interp& in, CallArgs& a, std::string_view name) {
  bind_args(in, a, name, {});
}

Value one_arg(Interp& in, CallArgs& a, std::string_view name) {
  auto b = bind_args(in, a, name, {"other"});
  if (!b[0]) in.fail(fmt::format("test '{}' needs an argument", name));
  return *b[0];
}

bool t_defined(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "defined");
  return !v.is_undefined();
}
bool t_undefined(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "undefined");
  return v.is_undefined();
}
bool t_none(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "none");
  return v.kind == Kind::None;
}
bool t_boolean(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "boolean");
  return v.kind == Kind::Bool;
}
bool t_false(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "false");
  return v.kind == Kind::Bool && !v.b;
}
bool t_true(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "true");
  return v.kind == Kind::Bool && v.b;
}
bool t_integer(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "integer");
  return v.kind == Kind::Int;
}
bool t_float(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "float");
  return v.kind == Kind::Float;
}
bool t_number(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "number");
  return v.is_number();
}
bool t_string(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "string");
  return v.kind == Kind::Str;
}
bool t_mapping(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "mapping");
  return v.kind == Kind::Dict;
}
// Undefined has __len__ and __getitem__ (which fail when used), so it counts as a sequence.
bool t_sequence(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "sequence");
  return v.kind == Kind::Str || (v.kind == Kind::List && v.list->indexable()) || v.kind == Kind::Dict ||
         v.is_undefined();
}
bool t_iterable(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "iterable");
  return v.kind == Kind::Str || v.kind == Kind::List || v.kind == Kind::Dict || v.is_undefined() ||
         v.kind == Kind::Loop;
}
bool t_callable(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "callable");
  return v.kind == Kind::Func || v.is_undefined();
}
bool t_odd(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "odd");
  return py_equal(py_mod(in, v, Value::integer(2)), Value::integer(1), in);
}
bool t_even(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "even");
  return py_equal(py_mod(in, v, Value::integer(2)), Value::integer(0), in);
}
bool t_divisibleby(Interp& in, const Value& v, CallArgs& a) {
  return py_equal(py_mod(in, v, one_arg(in, a, "divisibleby")), Value::integer(0), in);
}
bool t_eq(Interp& in, const Value& v, CallArgs& a) {
  return py_equal(v, one_arg(in, a, "eq"), in);
}
bool t_ne(Interp& in, const Value& v, CallArgs& a) {
  return !py_equal(v, one_arg(in, a, "ne"), in);
}
bool t_lt(Interp& in, const Value& v, CallArgs& a) {
  return py_less(v, one_arg(in, a, "lt"), in, "<");
}
bool t_gt(Interp& in, const Value& v, CallArgs& a) {
  return py_less(one_arg(in, a, "gt"), v, in, ">");
}
bool t_le(Interp& in, const Value& v, CallArgs& a) {
  const Value o = one_arg(in, a, "le");
  return py_less(v, o, in, "<=") || py_equal(v, o, in);
}
bool t_ge(Interp& in, const Value& v, CallArgs& a) {
  const Value o = one_arg(in, a, "ge");
  return py_less(o, v, in, ">=") || py_equal(v, o, in);
}
bool t_in(Interp& in, const Value& v, CallArgs& a) {
  const Value seq = one_arg(in, a, "in");
  if (seq.kind == Kind::Str) {
    if (v.kind != Kind::Str)
      in.fail(fmt::format("'in <string>' requires string as left operand, not {}", type_name(v)));
    return seq.str().find(v.str()) != std::string::npos;
  }
  if (seq.kind == Kind::Dict) return seq.dict->find(v) != nullptr;
  for (const Value& x : py_iterate(seq, in))
    if (py_equal(x, v, in)) return true;
  return false;
}
// Python's identity: None, True and False are singletons; small ints are cached.
bool t_sameas(Interp& in, const Value& v, CallArgs& a) {
  const Value o = one_arg(in, a, "sameas");
  if (v.kind != o.kind) return false;
  switch (v.kind) {
    case Kind::None:
    case Kind::Undefined:
      return v.kind == Kind::None;
    case Kind::Bool:
      return v.b == o.b;
    case Kind::Int:
      return v.i == o.i && v.i >= -5 && v.i <= 256;
    case Kind::Str:
      return v.s == o.s;
    case Kind::List:
      return v.list == o.list;
    case Kind::Func:
      return v.func == o.func;
    default:
      return v.dict == o.dict;
  }
}
bool t_lower(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "lower");
  return has_cased(soft_str(v, in), false);
}
bool t_upper(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "upper");
  return has_cased(soft_str(v, in), true);
}
bool t_escaped(Interp& in, const Value&, CallArgs& a) {
  no_args(in, a, "escaped");
  return false;
}
bool t_filter(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "filter");
  return v.kind == Kind::Str && find_filter(v.str()) != nullptr;
}
bool t_test(Interp& in, const Value& v, CallArgs& a) {
  no_args(in, a, "test");
  return v.kind == Kind::Str && find_test(v.str()) != nullptr;
}

// --- methods ------------------------------------------------------------------------------------

using MethodFn = Value (*)(Interp&, const Value& self, CallArgs&);

Value m_startswith_impl(Interp& in, const Value& self, CallArgs& a, bool ends) {
  auto b = bind_args(in, a, ends ? "endswith" : "startswith", {"prefix", "start", "end"});
  if (!b[0]) in.fail("startswith/endswith need an argument");
  if (b[1] || b[2]) in.fail("startswith/endswith with start/end are not supported");
  std::vector<Value> options;
  if (b[0]->kind == Kind::List && b[0]->list->tuple())
    options = b[0]->list->items;
  else
    options.push_back(*b[0]);
  const std::string& s = self.str();
  for (const Value& o : options) {
    const std::string& p = need_str(in, o, ends ? "endswith argument" : "startswith argument");
    if (p.size() <= s.size() &&
        (ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0))
      return Value::boolean(true);
  }
  return Value::boolean(false);
}
Value m_startswith(Interp& in, const Value& self, CallArgs& a) {
  return m_startswith_impl(in, self, a, false);
}
Value m_endswith(Interp& in, const Value& self, CallArgs& a) {
  return m_startswith_impl(in, self, a, true);
}

Value split_impl(Interp& in, const Value& self, CallArgs& a, bool right) {
  auto b = bind_args(in, a, right ? "rsplit" : "split", {"sep", "maxsplit"});
  const int64_t maxsplit = b[1] ? need_int(in, *b[1], "maxsplit") : -1;
  return list_of(split(self.str(), b[0], maxsplit, right, in));
}
Value m_split(Interp& in, const Value& self, CallArgs& a) {
  return split_impl(in, self, a, false);
}
Value m_rsplit(Interp& in, const Value& self, CallArgs& a) {
  return split_impl(in, self, a, true);
}

Value strip_impl(Interp& in, const Value& self, CallArgs& a, bool left, bool right) {
  auto b = bind_args(in, a, "strip", {"chars"});
  return Value::string(strip_chars(self.str(), b[0], left, right, in));
}
Value m_strip(Interp& in, const Value& self, CallArgs& a) {
  return strip_impl(in, self, a, true, true);
}
Value m_lstrip(Interp& in, const Value& self, CallArgs& a) {
  return strip_impl(in, self, a, true, false);
}
Value m_rstrip(Interp& in, const Value& self, CallArgs& a) {
  return strip_impl(in, self, a, false, true);
}

Value m_upper(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "upper", {});
  return Value::string(str_upper(self.str()));
}
Value m_lower(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "lower", {});
  return Value::string(str_lower(self.str()));
}
Value m_title(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "title", {});
  return Value::string(py_title(self.str()));
}
Value m_capitalize(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "capitalize", {});
  return Value::string(py_capitalize(self.str()));
}
Value m_replace(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "replace", {"old", "new", "count"});
  if (!b[0] || !b[1]) in.fail("replace() needs old and new");
  const int64_t count = b[2] ? need_int(in, *b[2], "count") : -1;
  return Value::string(
      replace_all(self.str(), need_str(in, *b[0], "old"), need_str(in, *b[1], "new"), count, in));
}
Value find_impl(Interp& in, const Value& self, CallArgs& a, bool reverse, bool count) {
  auto b = bind_args(in, a, count ? "count" : reverse ? "rfind" : "find", {"sub"});
  if (!b[0]) in.fail("find/count need an argument");
  const std::string& sub = need_str(in, *b[0], "substring");
  if (!count) return Value::integer(find_cp(self.str(), sub, reverse));
  if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_length(self.str())) + 1);
  int64_t n = 0;
  for (size_t p = self.str().find(sub); p != std::string::npos; p = self.str().find(sub, p + sub.size())) ++n;
  return Value::integer(n);
}
Value m_find(Interp& in, const Value& self, CallArgs& a) {
  return find_impl(in, self, a, false, false);
}
Value m_rfind(Interp& in, const Value& self, CallArgs& a) {
  return find_impl(in, self, a, true, false);
}
Value m_count_str(Interp& in, const Value& self, CallArgs& a) {
  return find_impl(in, self, a, false, true);
}
Value m_join(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "join", {"iterable"});
  if (!b[0]) in.fail("join() needs an argument");
  std::string out;
  size_t k = 0;
  for (const Value& item : py_iterate(*b[0], in)) {
    if (item.kind != Kind::Str)
      in.fail(fmt::format("sequence item {}: expected str instance, {} found", k, type_name(item)));
    if (k++ > 0) out += self.str();
    out += item.str();
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}
// str.format with {}, {0} and {name} fields and !r/!s/!a conversions (no format specs).
Value m_format(Interp& in, const Value& self, CallArgs& a) {
  const std::string& f = self.str();
  std::string out;
  int auto_index = 0;
  bool used_auto = false, used_manual = false;
  for (size_t k = 0; k < f.size(); ++k) {
    const char c = f[k];
    if (c == '}') {
      if (k + 1 < f.size() && f[k + 1] == '}') {
        out += '}';
        ++k;
        continue;
      }
      in.fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (k + 1 < f.size() && f[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    const size_t close = f.find('}', k);
    if (close == std::string::npos) in.fail("Single '{' encountered in format string");
    std::string field = f.substr(k + 1, close - k - 1);
    k = close;
    char conv = 0;
    if (const size_t colon = field.find(':'); colon != std::string::npos) {
      if (colon + 1 < field.size()) in.fail("format specifications in str.format are not supported");
      field.resize(colon);
    }
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size() || std::string_view("rsa").find(field[bang + 1]) == std::string_view::npos)
        in.fail("invalid conversion in format string");
      conv = field[bang + 1];
      field.resize(bang);
    }
    Value v;
    if (field.empty() ||
        std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      size_t idx;
      if (field.empty()) {
        used_auto = true;
        idx = static_cast<size_t>(auto_index++);
      } else {
        used_manual = true;
        idx = std::stoul(field.size() > 9 ? "999999999" : field);
      }
      if (used_auto && used_manual)
        in.fail("cannot switch between automatic field numbering and manual field specification");
      if (idx >= a.pos.size())
        in.fail(fmt::format("Replacement index {} out of range for positional args tuple", idx));
      v = a.pos[idx];
    } else {
      bool found = false;
      for (const auto& [key, val] : a.kw)
        if (key == field) {
          v = val;
          found = true;
        }
      if (!found) in.fail(fmt::format("'{}'", field));
    }
    out += conv == 'r' || conv == 'a' ? py_repr(v, in) : soft_str(v, in);
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value m_splitlines(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "splitlines", {"keepends"});
  std::vector<std::string> lines = splitlines(self.str(), opt_bool(b[0], false));
  in.check_items(lines.size());
  in.charge(lines.size());
  std::vector<Value> out;
  for (auto& l : lines) out.push_back(Value::string(std::move(l)));
  return list_of(std::move(out));
}
template <bool (*Pred)(char32_t)>
Value m_is(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "is*", {});
  return Value::boolean(all_chars(self.str(), Pred));
}
Value m_isupper(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "isupper", {});
  return Value::boolean(has_cased(self.str(), true));
}
Value m_islower(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "islower", {});
  return Value::boolean(has_cased(self.str(), false));
}

// dict.items()/keys()/values(): views (a snapshot here; templates cannot mutate the dict).
Value m_items(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "items", {});
  std::vector<Value> out;
  for (const auto& kv : self.dict->items) out.push_back(Value::make_list({kv.first, kv.second}, true));
  return Value::make_seq(std::move(out), Seq::Items);
}
Value m_keys(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "keys", {});
  std::vector<Value> out;
  for (const auto& kv : self.dict->items) out.push_back(kv.first);
  return Value::make_seq(std::move(out), Seq::Keys);
}
Value m_values(Interp& in, const Value& self, CallArgs& a) {
  bind_args(in, a, "values", {});
  std::vector<Value> out;
  for (const auto& kv : self.dict->items) out.push_back(kv.second);
  return Value::make_seq(std::move(out), Seq::Values);
}
Value m_get(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "get", {"key", "default"});
  if (!b[0]) in.fail("get() needs a key");
  if (const Value* v = self.dict->find(*b[0])) return *v;
  return b[1] ? *b[1] : Value::none();
}
Value m_index(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "index", {"value"});
  if (!b[0]) in.fail("index() needs an argument");
  for (size_t k = 0; k < self.list->items.size(); ++k)
    if (py_equal(self.list->items[k], *b[0], in)) return Value::integer(static_cast<int64_t>(k));
  in.fail(py_repr(*b[0], in) + " is not in list");
}
Value m_count_list(Interp& in, const Value& self, CallArgs& a) {
  auto b = bind_args(in, a, "count", {"value"});
  if (!b[0]) in.fail("count() needs an argument");
  int64_t n = 0;
  for (const Value& x : self.list->items) n += py_equal(x, *b[0], in) ? 1 : 0;
  return Value::integer(n);
}

struct Method {
  Kind kind;
  std::string_view name;
  MethodFn fn;
};

constexpr Method kMethods[] = {
    {Kind::Str, "startswith", m_startswith},
    {Kind::Str, "endswith", m_endswith},
    {Kind::Str, "split", m_split},
    {Kind::Str, "rsplit", m_rsplit},
    {Kind::Str, "strip", m_strip},
    {Kind::Str, "lstrip", m_lstrip},
    {Kind::Str, "rstrip", m_rstrip},
    {Kind::Str, "upper", m_upper},
    {Kind::Str, "lower", m_lower},
    {Kind::Str, "title", m_title},
    {Kind::Str, "capitalize", m_capitalize},
    {Kind::Str, "replace", m_replace},
    {Kind::Str, "find", m_find},
    {Kind::Str, "rfind", m_rfind},
    {Kind::Str, "count", m_count_str},
    {Kind::Str, "join", m_join},
    {Kind::Str, "splitlines", m_splitlines},
    {Kind::Str, "format", m_format},
    {Kind::Str, "isdigit", m_is<is_digit>},
    {Kind::Str, "isalpha", m_is<is_alpha>},
    {Kind::Str, "isalnum", m_is<is_alnum>},
    {Kind::Str, "isspace", m_is<py_isspace>},
    {Kind::Str, "isupper", m_isupper},
    {Kind::Str, "islower", m_islower},
    {Kind::Dict, "items", m_items},
    {Kind::Dict, "keys", m_keys},
    {Kind::Dict, "values", m_values},
    {Kind::Dict, "get", m_get},
    {Kind::List, "index", m_index},
    {Kind::List, "count", m_count_list},
};

// --- globals ------------------------------------------------------------------------------------

Value g_range(Interp& in, CallArgs& a) {
  if (!a.kw.empty()) in.fail("range() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 3) in.fail("range expected 1 to 3 arguments");
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) {
    stop = need_int(in, a.pos[0], "range() argument");
  } else {
    start = need_int(in, a.pos[0], "range() argument");
    stop = need_int(in, a.pos[1], "range() argument");
    if (a.pos.size() == 3) step = need_int(in, a.pos[2], "range() argument");
  }
  if (step == 0) in.fail("range() arg 3 must not be zero");
  // The sandbox's limit (jinja2's MAX_RANGE).
  constexpr int64_t kMaxRange = 100000;
  // Unsigned arithmetic: the span of two int64 values fits in a uint64.
  const bool up = step > 0;
  const uint64_t span = up ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                           : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
  const uint64_t astep = up ? static_cast<uint64_t>(step) : uint64_t{0} - static_cast<uint64_t>(step);
  const uint64_t n = (up ? start >= stop : start <= stop) ? 0 : (span - 1) / astep + 1;
  if (n > kMaxRange) in.fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  return Value::make_range(start, stop, step, n);
}

Value g_namespace(Interp& in, CallArgs& a) {
  Value ns = Value::make_dict(Kind::Namespace);
  for (const Value& p : a.pos) {
    if (p.kind != Kind::Dict) in.fail("namespace() positional arguments must be mappings");
    for (const auto& kv : p.dict->items) ns.dict->set(kv.first, kv.second);
  }
  for (auto& [k, v] : a.kw) ns.dict->set(Value::string(k), v);
  in.track_namespace(ns.dict);
  return ns;
}

Value g_dict(Interp& in, CallArgs& a) {
  Value d = Value::make_dict();
  if (a.pos.size() > 1) in.fail("dict expected at most 1 argument");
  if (!a.pos.empty()) {
    if (a.pos[0].kind != Kind::Dict) in.fail("dict() argument must be a mapping");
    for (const auto& kv : a.pos[0].dict->items) d.dict->set(kv.first, kv.second);
  }
  for (auto& [k, v] : a.kw) d.dict->set(Value::string(k), v);
  return d;
}

Value g_raise_exception(Interp& in, CallArgs& a) {
  auto b = bind_args(in, a, "raise_exception", {"message"});
  in.fail(fmt::format("template error: {}", b[0] ? soft_str(*b[0], in) : std::string()));
}

Value g_strftime_now(Interp& in, CallArgs& a) {
  auto b = bind_args(in, a, "strftime_now", {"format"});
  if (!b[0]) in.fail("strftime_now() needs a format");
  const std::string& f = need_str(in, *b[0], "format");
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string buf(256 + f.size() * 8, '\0');
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  const size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &tm);  // the template's format
#pragma GCC diagnostic pop
  buf.resize(n);
  return Value::string(std::move(buf));
}

// ascii(): repr with the non-ASCII characters escaped.
std::string py_ascii(const Value& v, Interp& in) {
  std::string out;
  for (char32_t c : utf8_decode(py_repr(v, in))) {
    if (c < 0x80)
      out += static_cast<char>(c);
    else if (c <= 0xFF)
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    else if (c <= 0xFFFF)
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    else
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
  }
  return out;
}

// Pads s (a number's digits, or text) to width: left-justified with '-', zero-filled after the
// sign or prefix with '0' (numbers only), else right-justified with spaces.
std::string pad(std::string sign_prefix, std::string body, int64_t width, bool left, bool zero) {
  const auto len = static_cast<int64_t>(utf8_length(sign_prefix) + utf8_length(body));
  if (len >= width) return sign_prefix + body;
  const std::string fill(static_cast<size_t>(width - len), zero && !left ? '0' : ' ');
  if (left) return sign_prefix + body + fill;
  if (zero) return sign_prefix + fill + body;
  return fill + sign_prefix + body;
}

}  // namespace

std::string py_percent_format(Interp& in, std::string_view f, const Value& args) {
  const bool tuple = args.kind == Kind::List && args.list->tuple();
  // Python treats any non-tuple, non-string object with __getitem__ as a mapping argument.
  const bool mapping = !tuple && (args.kind == Kind::Dict || args.kind == Kind::List);
  std::vector<Value> items = tuple ? args.list->items : std::vector<Value>{args};
  size_t next = 0;
  auto take = [&]() -> Value {
    if (next >= items.size()) in.fail("not enough arguments for format string");
    return items[next++];
  };
  std::string out;
  for (size_t k = 0; k < f.size(); ++k) {
    if (f[k] != '%') {
      out += f[k];
      continue;
    }
    if (++k >= f.size()) in.fail("incomplete format");
    std::optional<Value> arg;
    if (f[k] == '(') {
      const size_t close = f.find(')', k);
      if (close == std::string_view::npos) in.fail("incomplete format key");
      if (args.kind != Kind::Dict) in.fail("format requires a mapping");
      const Value* v = args.dict->find(f.substr(k + 1, close - k - 1));
      if (!v) in.fail(fmt::format("'{}'", f.substr(k + 1, close - k - 1)));
      arg = *v;
      k = close + 1;
    }
    bool left = false, zero = false, plus = false, space = false, alt = false;
    for (; k < f.size() && std::string_view("-0+ #").find(f[k]) != std::string_view::npos; ++k) {
      left = left || f[k] == '-';
      zero = zero || f[k] == '0';
      plus = plus || f[k] == '+';
      space = space || f[k] == ' ';
      alt = alt || f[k] == '#';
    }
    auto number = [&](int64_t* dst) {
      if (k < f.size() && f[k] == '*') {
        ++k;
        *dst = need_int(in, take(), "* width");
        return;
      }
      int64_t v = 0;
      while (k < f.size() && f[k] >= '0' && f[k] <= '9') {
        v = std::min<int64_t>(v * 10 + (f[k] - '0'), 1 << 20);
        ++k;
      }
      *dst = v;
    };
    int64_t width = 0, prec = -1;
    number(&width);
    if (width < 0) {
      left = true;
      width = -width;
    }
    if (k < f.size() && f[k] == '.') {
      ++k;
      number(&prec);
    }
    while (k < f.size() && (f[k] == 'h' || f[k] == 'l' || f[k] == 'L')) ++k;
    if (k >= f.size()) in.fail("incomplete format");
    const char type = f[k];
    in.check_size(static_cast<size_t>(width) + out.size());
    if (type == '%') {
      out += '%';
      continue;
    }
    const Value v = arg ? *arg : take();
    if (v.is_undefined() && type != 's') in.fail(v.str());
    const std::string sign_for_pos = plus ? "+" : space ? " " : "";
    switch (type) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = type == 's' ? soft_str(v, in) : type == 'r' ? py_repr(v, in) : py_ascii(v, in);
        if (prec >= 0)
          s = utf8_encode(std::u32string_view(utf8_decode(s)).substr(0, static_cast<size_t>(prec)));
        out += pad("", s, width, left, false);
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'x':
      case 'X':
      case 'o': {
        int64_t i;
        if (v.kind == Kind::Int || v.kind == Kind::Bool) {
          i = v.kind == Kind::Bool ? v.b : v.i;
        } else if (v.kind == Kind::Float && (type == 'd' || type == 'i' || type == 'u')) {
          if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18)
            in.fail("cannot convert float to a 64-bit integer");
          i = static_cast<int64_t>(v.f);
        } else {
          in.fail(fmt::format("%{} format: {} is required, not {}", type,
                              type == 'd' || type == 'i' || type == 'u' ? "a real number" : "an integer",
                              type_name(v)));
        }
        const uint64_t mag = i < 0 ? uint64_t{0} - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
        const int base = type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
        char buf[72];
        std::string digits(buf, std::to_chars(buf, buf + sizeof buf, mag, base).ptr);
        if (type == 'X') digits = str_upper(digits);
        if (prec > static_cast<int64_t>(digits.size()))
          digits = std::string(static_cast<size_t>(prec) - digits.size(), '0') + digits;
        std::string prefix = i < 0 ? "-" : sign_for_pos;
        if (alt && base != 10) prefix += type == 'o' ? "0o" : type == 'x' ? "0x" : "0X";
        out += pad(prefix, digits, width, left, zero);
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!v.is_number()) in.fail(fmt::format("must be real number, not {}", type_name(v)));
        const double d = to_double(v);
        const std::string spec =
            fmt::format("%{}{}.{}{}", alt ? "#" : "", "", prec < 0 ? 6 : std::min<int64_t>(prec, 400), type);
        std::string body(512 + 400, '\0');
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        const int n = std::snprintf(body.data(), body.size(), spec.c_str(), std::fabs(d));  // built above
#pragma GCC diagnostic pop
        body.resize(static_cast<size_t>(std::max(0, n)));
        const bool neg = std::signbit(d) && !std::isnan(d);
        out += pad(neg ? "-" : sign_for_pos, body, width, left, zero && std::isfinite(d));
        break;
      }
      case 'c': {
        std::string s;
        if (v.kind == Kind::Str && utf8_length(v.str()) == 1) {
          s = v.str();
        } else if (v.kind == Kind::Int || v.kind == Kind::Bool) {
          const int64_t c = v.kind == Kind::Bool ? v.b : v.i;
          if (c < 0 || c > 0x10FFFF) in.fail("%c arg not in range(0x110000)");
          utf8_append(s, static_cast<char32_t>(c));
        } else {
          in.fail("%c requires int or char");
        }
        out += pad("", s, width, left, false);
        break;
      }
      default:
        in.fail(fmt::format("unsupported format character '{}'", type));
    }
    in.check_size(out.size());
  }
  if (!mapping && next < items.size()) in.fail("not all arguments converted during string formatting");
  return out;
}

FilterFn find_filter(std::string_view name) {
  static const std::map<std::string_view, FilterFn, std::less<>> filters = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"slice", f_slice},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  const auto it = filters.find(name);
  return it == filters.end() ? nullptr : it->second;
}

TestFn find_test(std::string_view name) {
  static const std::map<std::string_view, TestFn, std::less<>> tests = {
      {"!=", t_ne},
      {"<", t_lt},
      {"<=", t_le},
      {"==", t_eq},
      {">", t_gt},
      {">=", t_ge},
      {"boolean", t_boolean},
      {"callable", t_callable},
      {"defined", t_defined},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"escaped", t_escaped},
      {"even", t_even},
      {"false", t_false},
      {"filter", t_filter},
      {"float", t_float},
      {"ge", t_ge},
      {"greaterthan", t_gt},
      {"gt", t_gt},
      {"in", t_in},
      {"integer", t_integer},
      {"iterable", t_iterable},
      {"le", t_le},
      {"lessthan", t_lt},
      {"lower", t_lower},
      {"lt", t_lt},
      {"mapping", t_mapping},
      {"ne", t_ne},
      {"none", t_none},
      {"number", t_number},
      {"odd", t_odd},
      {"sameas", t_sameas},
      {"sequence", t_sequence},
      {"string", t_string},
      {"test", t_test},
      {"true", t_true},
      {"undefined", t_undefined},
      {"upper", t_upper},
  };
  const auto it = tests.find(name);
  return it == tests.end() ? nullptr : it->second;
}

bool filter_is_shallow(std::string_view name) {
  // first and last take an item of a list in O(1) (py_iterate charges strings and mappings).
  static constexpr std::string_view kShallow[] = {"count", "d", "default", "first", "last", "length"};
  return std::find(std::begin(kShallow), std::end(kShallow), name) != std::end(kShallow);
}

bool test_is_shallow(std::string_view name) {
  static constexpr std::string_view kShallow[] = {
      "boolean", "callable", "defined", "escaped", "false",    "filter", "float", "integer", "iterable",
      "mapping", "none",     "number",  "sameas",  "sequence", "string", "test",  "true",    "undefined"};
  return std::find(std::begin(kShallow), std::end(kShallow), name) != std::end(kShallow);
}

std::optional<Value> find_method(const Value& obj, std::string_view name) {
  if (obj.kind == Kind::List && !obj.list->indexable()) return std::nullopt;
  for (const Method& m : kMethods)
    if (m.kind == obj.kind && m.name == name) {
      const MethodFn fn = m.fn;
      return Value::function(
          std::string(name), [fn, obj](Interp& in, CallArgs& a) { return fn(in, obj, a); }, weight(obj),
          1 + depth_of(obj));
    }
  return std::nullopt;
}

std::optional<Value> find_global(std::string_view name) {
  static const std::pair<std::string_view, Value (*)(Interp&, CallArgs&)> globals[] = {
      {"range", g_range},
      {"namespace", g_namespace},
      {"dict", g_dict},
      {"raise_exception", g_raise_exception},
      {"strftime_now", g_strftime_now},
  };
  for (const auto& [n, fn] : globals)
    if (n == name) return Value::function(std::string(name), fn);
  return std::nullopt;
}

}  // namespace r1::jinja::detail
