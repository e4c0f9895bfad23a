// Values of the Jinja interpreter and the Python behaviour jinja2 inherits: str(), repr(),
// json.dumps(), ==, <, iteration and len().
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "tokenizer/jinja_internal.h"

namespace r1::jinja::detail {

// --- UTF-8 --------------------------------------------------------------------------------------

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + static_cast<size_t>(len) <= n;
    for (int k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (ok) {
      out.push_back(cp);
      i += static_cast<size_t>(len);
    } else {
      out.push_back(0xDC00 + c);  // surrogateescape
      ++i;
    }
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c >= 0xDC80 && c <= 0xDCFF) {
    out.push_back(static_cast<char>(c - 0xDC00));  // an escaped invalid byte
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  bool ascii = true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
    ++n;
  }
  return ascii ? n : utf8_decode(s).size();
}

bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

namespace {

// The UTF-8 encodings of the non-ASCII Python whitespace characters.
bool multibyte_space(std::string_view s) {
  const std::u32string d = utf8_decode(s);
  return d.size() == 1 && d[0] >= 0x80 && py_isspace(d[0]);
}

}  // namespace

size_t space_len_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) return py_isspace(c) ? 1 : 0;
  for (size_t len = 2; len <= 3; ++len)
    if (pos + len <= s.size() && multibyte_space(s.substr(pos, len))) return len;
  return 0;
}

size_t space_len_before(std::string_view s, size_t end) {
  if (end == 0) return 0;
  const auto c = static_cast<unsigned char>(s[end - 1]);
  if (c < 0x80) return py_isspace(c) ? 1 : 0;
  for (size_t len = 2; len <= 3; ++len)
    if (end >= len && multibyte_space(s.substr(end - len, len))) return len;
  return 0;
}

// --- Values -------------------------------------------------------------------------------------

Value Value::boolean(bool v) {
  Value r = with_kind(Kind::Bool);
  r.b = v;
  return r;
}

Value Value::integer(int64_t v) {
  Value r = with_kind(Kind::Int);
  r.i = v;
  return r;
}

Value Value::number(double v) {
  Value r = with_kind(Kind::Float);
  r.f = v;
  return r;
}

Value Value::string(std::string v) {
  Value r = with_kind(Kind::Str);
  r.s = std::make_shared<const std::string>(std::move(v));
  return r;
}

Value Value::undefined(std::string hint) {
  Value r;
  r.s = std::make_shared<const std::string>(std::move(hint));
  return r;
}

Value Value::make_list(std::vector<Value> items, bool tuple) {
  return make_seq(std::move(items), tuple ? Seq::Tuple : Seq::List);
}

Value Value::make_range(int64_t start, int64_t stop, int64_t step, size_t n) {
  Value r = with_kind(Kind::List);
  auto l = std::make_shared<ListObj>();
  l->items.reserve(n);
  for (size_t k = 0; k < n; ++k) l->items.push_back(integer(start + static_cast<int64_t>(k) * step));
  l->seq = Seq::Range;
  l->range[0] = start;
  l->range[1] = stop;
  l->range[2] = step;
  r.list = std::move(l);
  return r;
}

Value Value::failed_generator(std::string error) {
  Value r = make_seq({}, Seq::Generator);
  auto l = std::make_shared<ListObj>(*r.list);
  l->error = std::make_shared<const std::string>(std::move(error));
  r.list = std::move(l);
  return r;
}

void ListObj::consume() const {
  if (error) throw Error(*error);
}

int depth_of(const Value& v) {
  switch (v.kind) {
    case Kind::List:
      return v.list->depth;
    case Kind::Dict:
    case Kind::Namespace:
    case Kind::Loop:
      return v.dict->depth;
    case Kind::Func:
      return v.func->depth;
    default:
      return 0;
  }
}

Value Value::make_seq(std::vector<Value> items, Seq seq) {
  Value r = with_kind(Kind::List);
  auto l = std::make_shared<ListObj>();
  for (const Value& x : items) l->depth = std::max(l->depth, 1 + depth_of(x));
  l->items = std::move(items);
  l->seq = seq;
  r.list = std::move(l);
  return r;
}

Value Value::make_dict(Kind kind) {
  Value r = with_kind(kind);
  r.dict = std::make_shared<DictObj>();
  return r;
}

Value Value::function(std::string name, std::function<Value(Interp&, CallArgs&)> fn, uint64_t weight,
                      int depth) {
  Value r = with_kind(Kind::Func);
  r.func = std::make_shared<const FuncObj>(FuncObj{std::move(name), std::move(fn), weight, depth});
  return r;
}

namespace {

// Dictionary keys compare like Python's hash-equal keys: 1, 1.0 and True are one key.
bool key_equal(const Value& a, const Value& b) {
  if (a.kind == Kind::Str || b.kind == Kind::Str) return a.kind == b.kind && a.str() == b.str();
  if (a.is_number() && b.is_number()) {
    const double x = a.kind == Kind::Float ? a.f : static_cast<double>(a.kind == Kind::Bool ? a.b : a.i);
    const double y = b.kind == Kind::Float ? b.f : static_cast<double>(b.kind == Kind::Bool ? b.b : b.i);
    if (a.kind != Kind::Float && b.kind != Kind::Float)
      return (a.kind == Kind::Bool ? a.b : a.i) == (b.kind == Kind::Bool ? b.b : b.i);
    return x == y;
  }
  if (a.kind == Kind::None || b.kind == Kind::None) return a.kind == b.kind;
  if (a.kind == Kind::List && b.kind == Kind::List) {
    if (a.list->items.size() != b.list->items.size()) return false;
    for (size_t i = 0; i < a.list->items.size(); ++i)
      if (!key_equal(a.list->items[i], b.list->items[i])) return false;
    return true;
  }
  return false;
}

}  // namespace

const Value* DictObj::find(const Value& key) const {
  for (const auto& kv : items)
    if (key_equal(kv.first, key)) return &kv.second;
  return nullptr;
}

const Value* DictObj::find(std::string_view key) const {
  for (const auto& kv : items)
    if (kv.first.kind == Kind::Str && kv.first.str() == key) return &kv.second;
  return nullptr;
}

void DictObj::set(Value key, Value value) {
  depth = std::max({depth, 1 + depth_of(key), 1 + depth_of(value)});
  for (auto& kv : items)
    if (key_equal(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  items.emplace_back(std::move(key), std::move(value));
}

Value from_json(const nlohmann::ordered_json& j, int depth_limit) {
  if (depth_limit <= 0) fail("nests too deeply");  // the caller names the variable and the limit
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e, depth_limit - 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value d = Value::make_dict();
      d.dict->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.dict->items.emplace_back(Value::string(it.key()), from_json(it.value(), depth_limit - 1));
      for (const auto& kv : d.dict->items) d.dict->depth = std::max(d.dict->depth, 1 + depth_of(kv.second));
      return d;
    }
    default:
      fail("holds an unsupported JSON value (binary)");
  }
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::Str:
      return "str";
    case Kind::List:
      switch (v.list->seq) {
        case Seq::List:
          return "list";
        case Seq::Tuple:
          return "tuple";
        case Seq::Range:
          return "range";
        case Seq::Generator:
          return "generator";
        case Seq::Reversed:
          return "list_reverseiterator";
        case Seq::Items:
          return "dict_items";
        case Seq::Keys:
          return "dict_keys";
        case Seq::Values:
          return "dict_values";
      }
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Loop:
      return "LoopContext";
    case Kind::Func:
      return "function";
  }
  return "object";
}

std::string object_name(const Value& v) {
  if (v.kind == Kind::None) return "None";
  return type_name(v) + " object";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return v.b;
    case Kind::Int:
      return v.i != 0;
    case Kind::Float:
      return v.f != 0;
    case Kind::Str:
      return !v.str().empty();
    case Kind::List:
      return v.list->once() || !v.list->items.empty();
    case Kind::Dict:
      return !v.dict->items.empty();
    default:
      return true;
  }
}

std::string one_line(std::string_view msg) {
  std::string out;
  for (char ch : msg) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n')
      out += "\\n";
    else if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += ch;
  }
  return out;
}

void Interp::fail(const std::string& msg) const {
  throw Error(fmt::format("{}: {}", where(), one_line(msg)));
}

void Interp::check_items(size_t n) const {
  if (n > limits().max_output_bytes / 16)
    fail(fmt::format("a list of {} items exceeds the template size limit ({} items)", n,
                     limits().max_output_bytes / 16));
}

uint64_t weight(const Value& v) {
  switch (v.kind) {
    case Kind::Str:
      return 1 + v.str().size() / 64;
    case Kind::List:
      return 1 + v.list->items.size();
    case Kind::Dict:
    case Kind::Namespace:
      return 1 + v.dict->items.size();
    default:
      return 1;
  }
}

void Interp::check_size(size_t n) const {
  if (n > limits().max_output_bytes)
    fail(fmt::format("a string of {} bytes exceeds the template output limit ({} bytes)", n,
                     limits().max_output_bytes));
}

std::string str_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : utf8_decode(s)) {
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
        (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
      c += 0x20;
    else if (c >= 0x400 && c <= 0x40F)
      c += 0x50;
    utf8_append(out, c);
  }
  return out;
}

std::string str_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : utf8_decode(s)) {
    if (c == 0xDF) {
      out += "SS";
      continue;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
        (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
      c -= 0x20;
    else if (c == 0x3C2)
      c = 0x3A3;
    else if (c >= 0x450 && c <= 0x45F)
      c -= 0x50;
    else if (c == 0xFF)
      c = 0x178;
    utf8_append(out, c);
  }
  return out;
}

// --- str(), repr(), json.dumps() ----------------------------------------------------------------

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  // Shortest round-trip digits, as Python's repr uses.
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  std::string out;
  if (s[0] == '-') {
    out = "-";
    s.erase(0, 1);
  }
  const size_t e = s.find('e');
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(s.substr(e + 1));
  const int decpt = exp + 1;  // digits d1 d2 ... with the point after decpt digits
  const int nd = static_cast<int>(digits.size());
  if (decpt > 16 || decpt < -3) {
    out += digits.substr(0, 1);
    if (nd > 1) out += fmt::format(".{}", digits.substr(1));
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  } else if (decpt <= 0) {
    out += fmt::format("0.{}{}", std::string(static_cast<size_t>(-decpt), '0'), digits);
  } else if (decpt >= nd) {
    out += digits + std::string(static_cast<size_t>(decpt - nd), '0') + ".0";
  } else {
    out += fmt::format("{}.{}", digits.substr(0, static_cast<size_t>(decpt)),
                       digits.substr(static_cast<size_t>(decpt)));
  }
  return out;
}

namespace {

// Python's str.isprintable() for one character, for the common non-printable ranges (control,
// format, separator, private-use and surrogate characters).
bool py_isprintable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c < 0x300) return true;
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E || c == 0x1680)
    return false;
  if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F))
    return false;
  if (c == 0x3000 || (c >= 0xD800 && c <= 0xF8FF) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB))
    return false;
  if (c == 0xFFFE || c == 0xFFFF || c >= 0xF0000 || (c >= 0xE0000 && c <= 0xE0FFF)) return false;
  return true;
}

std::string str_repr(std::string_view s) {
  const bool dquote = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char q = dquote ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : utf8_decode(s)) {
    if (c == static_cast<char32_t>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (py_isprintable(c)) {
      utf8_append(out, c);
    } else if (c <= 0xFF) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    } else if (c <= 0xFFFF) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
    }
  }
  out += q;
  return out;
}

void repr_into(std::string& out, const Value& v, Interp& in, int depth, bool top);

void repr_items(std::string& out, const Value& v, Interp& in, int depth) {
  if (v.kind == Kind::List) {
    const ListObj& l = *v.list;
    const auto& items = l.items;
    if (l.once()) {  // Python prints an address here
      out += fmt::format("<{} object>", type_name(v));
      return;
    }
    if (l.seq == Seq::Range) {
      const int64_t* r = l.range;
      out += r[2] == 1 ? fmt::format("range({}, {})", r[0], r[1])
                       : fmt::format("range({}, {}, {})", r[0], r[1], r[2]);
      return;
    }
    const bool view = l.seq == Seq::Items || l.seq == Seq::Keys || l.seq == Seq::Values;
    if (view) out += type_name(v) + "(";
    out += l.tuple() ? '(' : '[';
    for (size_t k = 0; k < items.size(); ++k) {
      if (k > 0) out += ", ";
      repr_into(out, items[k], in, depth + 1, false);
    }
    if (l.tuple() && items.size() == 1) out += ',';
    out += l.tuple() ? ')' : ']';
    if (view) out += ')';
  } else {
    out += '{';
    bool first = true;
    for (const auto& kv : v.dict->items) {
      if (!first) out += ", ";
      first = false;
      repr_into(out, kv.first, in, depth + 1, false);
      out += ": ";
      repr_into(out, kv.second, in, depth + 1, false);
    }
    out += '}';
  }
}

// str(v) when top, else repr(v).
void repr_into(std::string& out, const Value& v, Interp& in, int depth, bool top) {
  if (depth > in.limits().max_depth) in.fail("value nests too deeply to print");
  in.check_size(out.size());
  switch (v.kind) {
    case Kind::Undefined:
      if (!top) out += "Undefined";
      return;
    case Kind::None:
      out += "None";
      return;
    case Kind::Bool:
      out += v.b ? "True" : "False";
      return;
    case Kind::Int:
      out += std::to_string(v.i);
      return;
    case Kind::Float:
      out += py_float_repr(v.f);
      return;
    case Kind::Str:
      if (top)
        out += v.str();
      else
        out += str_repr(v.str());
      return;
    case Kind::List:
    case Kind::Dict:
      repr_items(out, v, in, depth);
      return;
    case Kind::Namespace:
      out += "<Namespace ";
      repr_items(out, v, in, depth);
      out += '>';
      return;
    case Kind::Loop: {
      const Value* index = v.dict->find(std::string_view("index"));
      const Value* length = v.dict->find(std::string_view("length"));
      out += fmt::format("<LoopContext {}/{}>", index ? index->i : 0, length ? length->i : 0);
      return;
    }
    case Kind::Func:
      out += fmt::format("<function {}>", v.func->name);
      return;
  }
}

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : utf8_decode(s)) {
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
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
        } else if (ensure_ascii && c >= 0x7F) {
          if (c >= 0x10000) {
            const uint32_t u = static_cast<uint32_t>(c) - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (u >> 10), 0xDC00 + (u & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
          }
        } else {
          utf8_append(out, c);
        }
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return py_float_repr(d);
}

void json_into(std::string& out, const Value& v, const JsonOptions& opt, Interp& in, int depth) {
  if (depth > in.limits().max_depth) in.fail("value nests too deeply for tojson");
  in.check_size(out.size());
  auto newline = [&](int level) {
    if (!opt.indent) return;
    out += '\n';
    for (int k = 0; k < level; ++k) out += *opt.indent;
  };
  switch (v.kind) {
    case Kind::None:
      out += "null";
      return;
    case Kind::Bool:
      out += v.b ? "true" : "false";
      return;
    case Kind::Int:
      out += std::to_string(v.i);
      return;
    case Kind::Float:
      out += json_float(v.f);
      return;
    case Kind::Str:
      json_string(out, v.str(), opt.ensure_ascii);
      return;
    case Kind::List: {
      if (v.list->seq != Seq::List && v.list->seq != Seq::Tuple)
        in.fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
      const auto& items = v.list->items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k > 0) out += opt.item_sep;
        newline(depth + 1);
        json_into(out, items[k], opt, in, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Kind::Dict: {
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (opt.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [&](const auto* a, const auto* b) { return py_less(a->first, b->first, in); });
      out += '{';
      bool first = true;
      for (const auto* kv : items) {
        if (!first) out += opt.item_sep;
        first = false;
        newline(depth + 1);
        const Value& k = kv->first;
        switch (k.kind) {
          case Kind::Str:
            json_string(out, k.str(), opt.ensure_ascii);
            break;
          case Kind::Int:
            out += '"' + std::to_string(k.i) + '"';
            break;
          case Kind::Float:
            out += '"' + json_float(k.f) + '"';
            break;
          case Kind::Bool:
            out += k.b ? "\"true\"" : "\"false\"";
            break;
          case Kind::None:
            out += "\"null\"";
            break;
          default:
            in.fail(fmt::format("keys must be str, int, float, bool or None, not {}", type_name(k)));
        }
        out += opt.key_sep;
        json_into(out, kv->second, opt, in, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    default:
      in.fail(fmt::format("Object of type {} is not JSON serializable", type_name(v)));
  }
}

int64_t as_int(const Value& v) {
  return v.kind == Kind::Bool ? (v.b ? 1 : 0) : v.i;
}

// Exact comparison of an integer and a double, as Python does. Returns -1, 0, 1, or 2 (NaN).
int cmp_int_double(int64_t i, double d) {
  if (std::isnan(d)) return 2;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  const double fl = std::floor(d);
  const auto di = static_cast<int64_t>(fl);
  if (i < di) return -1;
  if (i > di) return 1;
  return fl == d ? 0 : -1;  // i == floor(d) < d
}

// -1, 0, 1 for numbers; 2 when unordered (NaN).
int num_cmp(const Value& a, const Value& b) {
  if (a.kind != Kind::Float && b.kind != Kind::Float) {
    const int64_t x = as_int(a), y = as_int(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.kind == Kind::Float && b.kind == Kind::Float) {
    if (a.f < b.f) return -1;
    if (a.f > b.f) return 1;
    return a.f == b.f ? 0 : 2;
  }
  if (a.kind == Kind::Float) {
    const int r = cmp_int_double(as_int(b), a.f);
    return r == 2 ? 2 : -r;
  }
  return cmp_int_double(as_int(a), b.f);
}

bool equal_at(const Value& a, const Value& b, Interp& in, int depth) {
  if (depth > in.limits().max_depth) in.fail("values nest too deeply to compare");
  in.charge(a.kind == Kind::Str ? weight(a) : 1);
  if (a.is_number() && b.is_number()) return num_cmp(a, b) == 0;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::Str:
      return a.s == b.s || a.str() == b.str();
    case Kind::List: {
      if (a.list == b.list) return true;
      if (!a.list->indexable() || a.list->seq != b.list->seq || a.list->items.size() != b.list->items.size())
        return false;
      for (size_t k = 0; k < a.list->items.size(); ++k)
        if (!equal_at(a.list->items[k], b.list->items[k], in, depth + 1)) return false;
      return true;
    }
    case Kind::Dict: {
      if (a.dict == b.dict) return true;
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& kv : a.dict->items) {
        const Value* other = b.dict->find(kv.first);
        if (!other || !equal_at(kv.second, *other, in, depth + 1)) return false;
      }
      return true;
    }
    case Kind::Func:
      return a.func == b.func;
    default:
      return a.dict == b.dict;
  }
}

bool less_at(const Value& a, const Value& b, Interp& in, std::string_view op, int depth) {
  if (depth > in.limits().max_depth) in.fail("values nest too deeply to compare");
  in.charge(a.kind == Kind::Str ? weight(a) : 1);
  if (a.is_undefined()) in.fail(a.str());
  if (b.is_undefined()) in.fail(b.str());
  if (a.is_number() && b.is_number()) return num_cmp(a, b) == -1;
  if (a.kind == Kind::Str && b.kind == Kind::Str) return a.str() < b.str();
  if (a.kind == Kind::List && b.kind == Kind::List && a.list->seq == b.list->seq &&
      (a.list->seq == Seq::List || a.list->seq == Seq::Tuple)) {
    const auto& x = a.list->items;
    const auto& y = b.list->items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k)
      if (!equal_at(x[k], y[k], in, depth + 1)) return less_at(x[k], y[k], in, op, depth + 1);
    return x.size() < y.size();
  }
  in.fail(
      fmt::format("'{}' not supported between instances of '{}' and '{}'", op, type_name(a), type_name(b)));
}

}  // namespace

std::string py_str(const Value& v, Interp& in) {
  if (v.kind == Kind::Str) return v.str();
  std::string out;
  repr_into(out, v, in, 0, true);
  return out;
}

std::string py_repr(const Value& v, Interp& in) {
  std::string out;
  repr_into(out, v, in, 0, false);
  return out;
}

std::string py_json(const Value& v, const JsonOptions& opt, Interp& in) {
  std::string out;
  json_into(out, v, opt, in, 0);
  return out;
}

bool py_equal(const Value& a, const Value& b, Interp& in) {
  return equal_at(a, b, in, 0);
}

bool py_less(const Value& a, const Value& b, Interp& in, std::string_view op) {
  return less_at(a, b, in, op, 0);
}

std::vector<Value> py_iterate(const Value& v, Interp& in) {
  in.charge(weight(v));
  switch (v.kind) {
    case Kind::Undefined:
      return {};
    case Kind::List: {
      const ListObj& l = *v.list;
      if (!l.once()) return l.items;
      l.consume();
      // A generator or iterator is consumed by iterating it.
      std::vector<Value> rest(l.items.begin() + static_cast<std::ptrdiff_t>(std::min(l.next, l.items.size())),
                              l.items.end());
      l.next = l.items.size();
      return rest;
    }
    case Kind::Dict: {
      std::vector<Value> keys;
      keys.reserve(v.dict->items.size());
      for (const auto& kv : v.dict->items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::Str: {
      std::vector<Value> chars;
      const std::u32string cs = utf8_decode(v.str());
      in.check_items(cs.size());
      in.charge(cs.size());
      for (char32_t c : cs) {
        std::string one;
        utf8_append(one, c);
        chars.push_back(Value::string(std::move(one)));
      }
      return chars;
    }
    default:
      in.fail(fmt::format("'{}' object is not iterable", type_name(v)));
  }
}

int64_t py_len(const Value& v, Interp& in) {
  in.charge(v.kind == Kind::Str ? weight(v)
                                : 1);  // a string's code points are counted; a list knows its size
  switch (v.kind) {
    case Kind::Undefined:
      return 0;
    case Kind::Str:
      return static_cast<int64_t>(utf8_length(v.str()));
    case Kind::List:
      if (v.list->once()) break;
      return static_cast<int64_t>(v.list->items.size());
    case Kind::Dict:
      return static_cast<int64_t>(v.dict->items.size());
    default:
      break;
  }
  in.fail(fmt::format("object of type '{}' has no len()", type_name(v)));
}

std::vector<std::optional<Value>> bind_args(Interp& in, CallArgs& args, std::string_view fname,
                                            std::initializer_list<std::string_view> params) {
  std::vector<std::optional<Value>> out(params.size());
  if (args.pos.size() > params.size())
    in.fail(fmt::format("{}() takes at most {} arguments ({} given)", fname, params.size(), args.pos.size()));
  for (size_t k = 0; k < args.pos.size(); ++k) out[k] = std::move(args.pos[k]);
  for (auto& [key, value] : args.kw) {
    const auto it = std::find(params.begin(), params.end(), key);
    if (it == params.end()) in.fail(fmt::format("{}() got an unexpected keyword argument '{}'", fname, key));
    const auto idx = static_cast<size_t>(it - params.begin());
    if (out[idx]) in.fail(fmt::format("{}() got multiple values for argument '{}'", fname, key));
    out[idx] = std::move(value);
  }
  return out;
}

}  // namespace r1::jinja::detail
