// The Jinja interpreter: lexer (jinja2's rules for delimiters and whitespace control), parser
// (jinja2's grammar, to an AST) and evaluator (scopes, statements, expressions, the sandbox's
// attribute and item lookup).
#include "tokenizer/jinja.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "tokenizer/jinja_internal.h"

namespace r1::jinja {
namespace detail {
namespace {

[[noreturn]] void fail_at(const std::string& name, int line, std::string_view msg) {
  throw Error(fmt::format("{}:{}: {}", name, line, one_line(msg)));
}

// --- Lexer --------------------------------------------------------------------------------------

enum class Tok : uint8_t { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // data, name, string value or operator
  int line = 1;
  int64_t ival = 0;
  double fval = 0;
};

// jinja2 joins the source's lines with "\n" (\r\n and \r are line breaks too) and drops one
// trailing newline (keep_trailing_newline is off).
std::string normalize_newlines(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

class Lexer {
 public:
  Lexer(std::string src, const std::string& name) : src_(std::move(src)), name_(name) {}

  std::vector<Token> run() {
    const size_t n = src_.size();
    while (pos_ < n) {
      size_t t = pos_;
      while ((t = src_.find('{', t)) != std::string::npos) {
        if (t + 1 < n && (src_[t + 1] == '{' || src_[t + 1] == '%' || src_[t + 1] == '#')) break;
        ++t;
      }
      if (t == std::string::npos) {
        emit_data(src_.substr(pos_));
        pos_ = n;
        break;
      }
      const char kind = src_[t + 1];
      size_t after = t + 2;
      const char sign = after < n && (src_[after] == '-' || src_[after] == '+') ? src_[after] : 0;
      if (sign) ++after;
      size_t raw_body = 0;
      const bool raw = kind == '%' && match_raw_begin(after, &raw_body);
      emit_data(strip_before(src_.substr(pos_, t - pos_), sign, kind != '{'));
      if (raw) {
        count_lines(t, raw_body);
        line_starting_ = src_[raw_body - 1] == '\n';
        pos_ = raw_body;
        lex_raw();
      } else if (kind == '#') {
        pos_ = after;
        lex_comment();
      } else {
        pos_ = after;
        lex_tag(kind == '%');
      }
    }
    out_.push_back(Token{Tok::Eof, "", line_});
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(std::string_view msg) const { fail_at(name_, line_, msg); }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to; ++i)
      if (src_[i] == '\n') ++line_;
  }

  // Text before a tag: "-" strips all whitespace; lstrip_blocks strips the whitespace between
  // the line start and {% or {# (not {{) unless "+" is given.
  std::string strip_before(std::string text, char sign, bool lstrip) {
    const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    if (sign == '-') {
      size_t end = text.size(), len;
      while ((len = space_len_before(text, end)) > 0) end -= len;
      text.resize(end);
    } else if (sign != '+' && lstrip) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size()) {
        size_t p = l_pos, len;
        while ((len = space_len_at(text, p)) > 0) p += len;
        if (p == text.size()) text.resize(l_pos);
      }
    }
    pending_lines_ = lines;
    return text;
  }

  void emit_data(std::string text) {
    if (!text.empty()) out_.push_back(Token{Tok::Data, text, line_});
    line_ +=
        pending_lines_ >= 0 ? pending_lines_ : static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    pending_lines_ = -1;
  }

  size_t skip_spaces(size_t p) const {
    size_t len;
    while ((len = space_len_at(src_, p)) > 0) p += len;
    return p;
  }

  // "{%" sign already consumed up to `after`; matches \s*raw\s*(-%}\s*|%}).
  bool match_raw_begin(size_t after, size_t* body) const {
    size_t p = skip_spaces(after);
    if (src_.compare(p, 3, "raw") != 0) return false;
    p = skip_spaces(p + 3);
    if (src_.compare(p, 3, "-%}") == 0) {
      *body = skip_spaces(p + 3);
      return true;
    }
    if (src_.compare(p, 2, "%}") == 0) {
      *body = p + 2;
      return true;
    }
    return false;
  }

  // Ends a tag at p (which starts with sign_char or the closing delimiter): "+X" keeps what
  // follows, "-X" strips whitespace after, plain "X" drops one newline after when trim is set.
  size_t end_of_close(size_t p, size_t delim_len, bool trim) const {
    if (src_[p] == '+') return p + 1 + delim_len;
    if (src_[p] == '-') return skip_spaces(p + 1 + delim_len);
    size_t e = p + delim_len;
    if (trim && e < src_.size() && src_[e] == '\n') ++e;
    return e;
  }

  void finish_tag(size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    count_lines(pos_, end);
    pos_ = end;
  }

  void lex_comment() {
    const size_t body = pos_;
    const size_t q = src_.find("#}", body);
    if (q == std::string::npos) fail("missing end of comment tag");
    const size_t start = q > body && (src_[q - 1] == '+' || src_[q - 1] == '-') ? q - 1 : q;
    finish_tag(end_of_close(start, 2, true));
  }

  void lex_raw() {
    const size_t body = pos_;
    size_t p = body;
    while ((p = src_.find("{%", p)) != std::string::npos) {
      size_t q = p + 2;
      const char sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : 0;
      if (sign) ++q;
      q = skip_spaces(q);
      if (src_.compare(q, 6, "endraw") == 0) {
        q = skip_spaces(q + 6);
        if (src_.compare(q, 3, "+%}") == 0 || src_.compare(q, 3, "-%}") == 0 ||
            src_.compare(q, 2, "%}") == 0) {
          emit_data(strip_before(src_.substr(body, p - body), sign, true));
          pos_ = p;
          finish_tag(end_of_close(q, 2, true));
          return;
        }
      }
      p += 2;
    }
    fail("missing end of raw directive");
  }

  void lex_tag(bool block) {
    out_.push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, "", line_});
    const size_t n = src_.size();
    std::string balance;
    const std::string_view close = block ? "%}" : "}}";
    for (;;) {
      if (pos_ >= n)
        fail(block ? "unexpected end of template inside a {% %} tag"
                   : "unexpected end of template inside a {{ }} tag");
      if (balance.empty()) {
        const bool plain = src_.compare(pos_, 2, close) == 0;
        const bool signed_close =
            (src_[pos_] == '-' || (block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0;
        if (plain || signed_close) {
          out_.push_back(Token{block ? Tok::BlockEnd : Tok::VarEnd, "", line_});
          finish_tag(end_of_close(pos_, 2, block));
          return;
        }
      }
      if (size_t len = space_len_at(src_, pos_); len > 0) {
        if (src_[pos_] == '\n') ++line_;
        pos_ += len;
        continue;
      }
      const char c = src_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t e = pos_ + 1;
        while (e < n && (is_name_start(src_[e]) || is_digit(src_[e])) && space_len_at(src_, e) == 0) ++e;
        out_.push_back(Token{Tok::Name, src_.substr(pos_, e - pos_), line_});
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        lex_operator(balance);
      }
    }
  }

  // (\d+_)*\d+ from p; npos if no digit there.
  size_t digit_run(size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return std::string::npos;
    while (p < src_.size() && is_digit(src_[p])) {
      ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) ++p;
    }
    return p;
  }

  // (_?D)+ from p for digits D of the given base; npos if none.
  size_t based_run(size_t p, int base) const {
    auto ok = [&](char ch) {
      const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (base == 2) return l == '0' || l == '1';
      if (base == 8) return l >= '0' && l <= '7';
      return is_digit(l) || (l >= 'a' && l <= 'f');
    };
    size_t e = std::string::npos;
    while (p < src_.size()) {
      size_t q = p;
      if (src_[q] == '_') ++q;
      if (q < src_.size() && ok(src_[q]))
        e = p = q + 1;
      else
        break;
    }
    return e;
  }

  void lex_number() {
    const size_t n = src_.size();
    const size_t start = pos_;
    // Float first (as jinja2 tries it first): digits with a fraction and/or an exponent, not
    // directly after a '.'.
    if (start == 0 || src_[start - 1] != '.') {
      const size_t int_end = digit_run(start);
      size_t frac_end = std::string::npos;
      if (int_end < n && src_[int_end] == '.') frac_end = digit_run(int_end + 1);
      const size_t mant_end = frac_end != std::string::npos ? frac_end : int_end;
      size_t exp_end = std::string::npos;
      if (mant_end < n && (src_[mant_end] == 'e' || src_[mant_end] == 'E')) {
        size_t p = mant_end + 1;
        if (p < n && (src_[p] == '+' || src_[p] == '-')) ++p;
        exp_end = digit_run(p);
      }
      const size_t end = exp_end != std::string::npos ? exp_end : frac_end;
      if (end != std::string::npos) {
        std::string text;
        for (size_t i = start; i < end; ++i)
          if (src_[i] != '_') text += src_[i];
        double v = 0;
        std::from_chars(text.data(), text.data() + text.size(), v);
        Token t{Tok::Float, text, line_};
        t.fval = v;
        out_.push_back(t);
        pos_ = end;
        return;
      }
    }
    size_t end = std::string::npos;
    int base = 10;
    size_t digits_from = start;
    if (src_[start] == '0' && start + 1 < n) {
      const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[start + 1])));
      base = l == 'b' ? 2 : l == 'o' ? 8 : l == 'x' ? 16 : 10;
      if (base != 10) {
        end = based_run(start + 2, base);
        digits_from = start + 2;
        if (end == std::string::npos) base = 10;
      }
    }
    if (base == 10) {
      digits_from = start;
      if (src_[start] != '0') {
        end = digit_run(start);
      } else {  // 0(_?0)*
        end = start + 1;
        while (end < n && (src_[end] == '0' || (src_[end] == '_' && end + 1 < n && src_[end + 1] == '0')))
          end += src_[end] == '_' ? 2 : 1;
      }
    }
    std::string digits;
    for (size_t i = digits_from; i < end; ++i)
      if (src_[i] != '_') digits += src_[i];
    uint64_t v = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
    if (r.ec != std::errc() || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(fmt::format("integer literal {} is too large (integers are 64-bit)",
                       src_.substr(start, end - start)));
    Token t{Tok::Int, src_.substr(start, end - start), line_};
    t.ival = static_cast<int64_t>(v);
    out_.push_back(t);
    pos_ = end;
  }

  static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // A string literal, unescaped as Python's unicode-escape codec does (jinja2 encodes the
  // literal with backslashreplace first, so a backslash before a non-ASCII character stays).
  void lex_string(char quote) {
    const size_t n = src_.size();
    const int start_line = line_;
    size_t p = pos_ + 1;
    std::string v;
    for (;;) {
      if (p >= n) fail("unterminated string literal");
      const char c = src_[p];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        v += c;
        ++p;
        continue;
      }
      if (p + 1 >= n) fail("unterminated string literal");
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n':
          ++line_;
          break;
        case '\\':
        case '\'':
        case '"':
          v += e;
          break;
        case 'a':
          v += '\a';
          break;
        case 'b':
          v += '\b';
          break;
        case 'f':
          v += '\f';
          break;
        case 'n':
          v += '\n';
          break;
        case 'r':
          v += '\r';
          break;
        case 't':
          v += '\t';
          break;
        case 'v':
          v += '\v';
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < len; ++k) {
            const int h = p < n ? hex_value(src_[p]) : -1;
            if (h < 0)
              fail(fmt::format("truncated \\{}{} escape", e, std::string(static_cast<size_t>(len), 'X')));
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (cp > 0x10FFFF) fail("illegal Unicode character in string literal");
          utf8_append(v, cp);
          break;
        }
        case 'N':
          fail("\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < n && src_[p] >= '0' && src_[p] <= '7'; ++k, ++p)
              cp = cp * 8 + static_cast<uint32_t>(src_[p] - '0');
            utf8_append(v, cp);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            // backslashreplace turned the character into \xhh, \uhhhh or \Uhhhhhhhh text.
            const std::u32string cs =
                utf8_decode(std::string_view(src_).substr(p - 1, std::min<size_t>(4, n - (p - 1))));
            const char32_t ch = cs[0];
            std::string one;
            utf8_append(one, ch);
            p = p - 1 + one.size();
            v += ch <= 0xFF     ? fmt::format("\\x{:02x}", static_cast<uint32_t>(ch))
                 : ch <= 0xFFFF ? fmt::format("\\u{:04x}", static_cast<uint32_t>(ch))
                                : fmt::format("\\U{:08x}", static_cast<uint32_t>(ch));
          } else {
            v += '\\';
            v += e;
          }
      }
    }
    Token t{Tok::String, std::move(v), start_line};
    out_.push_back(t);
    pos_ = p + 1;
  }

  void lex_operator(std::string& balance) {
    static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : two)
      if (src_.compare(pos_, 2, op) == 0) {
        out_.push_back(Token{Tok::Op, std::string(op), line_});
        pos_ += 2;
        return;
      }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}.:|,;=<>").find(c) == std::string_view::npos) {
      const std::u32string cs = utf8_decode(std::string_view(src_).substr(pos_, 4));
      std::string one;
      utf8_append(one, cs[0]);
      fail(fmt::format("unexpected character '{}'", one));
    }
    if (c == '{' || c == '(' || c == '[') {
      balance.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
    } else if (c == '}' || c == ')' || c == ']') {
      if (balance.empty()) fail(fmt::format("unexpected '{}'", c));
      if (balance.back() != c) fail(fmt::format("unexpected '{}', expected '{}'", c, balance.back()));
      balance.pop_back();
    }
    out_.push_back(Token{Tok::Op, std::string(1, c), line_});
    ++pos_;
  }

  std::string src_;
  const std::string& name_;
  size_t pos_ = 0;
  int line_ = 1;
  int pending_lines_ = -1;  // newlines of the text before a tag, counted before stripping
  bool line_starting_ = true;
  std::vector<Token> out_;
};

// --- AST ----------------------------------------------------------------------------------------

enum class EK : uint8_t {
  Const,
  Name,
  List,
  Tuple,
  Dict,
  Attr,
  Item,
  Slice,
  Call,
  Filter,
  Test,
  Not,
  Neg,
  Pos,
  Bin,
  And,
  Or,
  Compare,
  Concat,
  Cond
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  EK kind;
  int line = 0;
  int depth = 1;                                  // height of this subtree
  std::string name;                               // Name; Attr's attribute; Filter/Test name; Bin operator
  Value value;                                    // Const
  std::vector<ExprP> a;                           // operands (null: an omitted slice bound or else branch)
  std::vector<std::pair<std::string, ExprP>> kw;  // keyword arguments of Call/Filter/Test
  std::vector<std::string> ops;                   // Compare operators
  FilterFn filter = nullptr;
  TestFn test = nullptr;
  bool constant = false;  // Slice in a {{ }} that jinja2 evaluates at compile time (see folded())
  bool shallow = false;   // Filter/Test: filter_is_shallow / test_is_shallow (not charged its input)
};

struct Target {
  std::vector<std::string> names;
  bool tuple = false;
  std::string ns_attr;  // set ns.attr = ...: names[0] is the namespace
};

enum class SK : uint8_t { Text, Output, If, For, Set, SetBlock, Macro, FilterBlock, With, Break, Continue };

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  SK kind;
  int line = 0;
  std::string text;  // Text; Macro name
  ExprP expr;        // Output value, Set value, For iterable, SetBlock/FilterBlock filter chain
  ExprP cond;        // For's loop filter
  Target target;
  std::vector<std::pair<ExprP, Body>> branches;  // If
  Body body, else_body;
  std::vector<std::pair<std::string, ExprP>> params;  // Macro parameters; With assignments
  bool varargs = false, kwargs = false;               // Macro: its body uses varargs / kwargs
};

}  // namespace

struct Program {
  std::string name;
  Limits limits;
  Body body;
};

namespace {

// --- Parser -------------------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Token> toks, const std::string& name, const Limits& lim)
      : t_(std::move(toks)), name_(name), lim_(lim) {}

  Body parse() {
    Body b = subparse({});
    if (cur().type != Tok::Eof) fail(cur().line, fmt::format("unexpected '{}'", cur().text));
    return b;
  }

 private:
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.lim_.max_depth) p.fail(p.cur().line, "template nests too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void fail(int line, std::string_view msg) const { fail_at(name_, line, msg); }

  const Token& cur() const { return t_[pos_]; }
  const Token& look() const { return t_[std::min(pos_ + 1, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[pos_];
    if (pos_ + 1 < t_.size()) ++pos_;
    return t;
  }
  bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(std::string_view n) const { return cur().type == Tok::Name && cur().text == n; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Eof:
        return "end of template";
      case Tok::BlockEnd:
        return "end of statement block";
      case Tok::VarEnd:
        return "end of print statement";
      case Tok::BlockBegin:
        return "begin of statement block";
      case Tok::VarBegin:
        return "begin of print statement";
      case Tok::Data:
        return "template data";
      case Tok::String:
        return "string";
      default:
        return t.text;
    }
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail(cur().line, fmt::format("expected '{}', got '{}'", op, describe(cur())));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail(cur().line, fmt::format("expected a name, got '{}'", describe(cur())));
    return next().text;
  }
  void expect(Tok type, std::string_view what) {
    if (cur().type != type) fail(cur().line, fmt::format("expected {}, got '{}'", what, describe(cur())));
    next();
  }
  void expect_block_end() { expect(Tok::BlockEnd, "the end of the tag ('%}')"); }

  ExprP node(EK kind, int line, std::vector<ExprP> operands = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    e->a = std::move(operands);
    update_depth(*e);
    return e;
  }
  void update_depth(Expr& e) {
    int d = 0;
    for (const auto& c : e.a)
      if (c) d = std::max(d, c->depth);
    for (const auto& kv : e.kw) d = std::max(d, kv.second->depth);
    e.depth = d + 1;
    if (e.depth > lim_.max_depth) fail(e.line, "expression nests too deeply");
  }

  // --- statements ---

  Body subparse(std::initializer_list<std::string_view> end_names) {
    DepthGuard g(*this);
    Body body;
    for (;;) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (end_names.size() > 0)
          fail(t.line, fmt::format("unexpected end of template, expected '{}'", *end_names.begin()));
        return body;
      }
      if (t.type == Tok::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = SK::Text;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = SK::Output;
        s->line = t.line;
        s->expr = folded(known(parse_tuple(true, false, {}), soft_));
        expect(Tok::VarEnd, "the end of the print statement ('}}')");
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (cur().type == Tok::Name)
          for (std::string_view e : end_names)
            if (cur().text == e) return body;
        body.push_back(parse_statement());
      } else {
        fail(t.line, fmt::format("unexpected '{}'", describe(t)));
      }
    }
  }

  // After the header of a block statement: its body up to one of end_names (left current).
  Body parse_body(std::initializer_list<std::string_view> end_names) {
    expect_block_end();
    return subparse(end_names);
  }
  void end_tag(std::string_view name) {
    if (!skip_name(name)) fail(cur().line, fmt::format("expected '{}'", name));
    expect_block_end();
  }

  std::unique_ptr<Stmt> parse_statement() {
    const Token& t = cur();
    if (t.type != Tok::Name) fail(t.line, "tag name expected");
    const std::string tag = t.text;
    const int line = t.line;
    auto s = std::make_unique<Stmt>();
    s->line = line;
    next();
    const bool outer_soft = soft_;
    if (tag == "if") {
      s->kind = SK::If;
      soft_ = true;
      for (;;) {
        ExprP c = known(parse_tuple(false, false, {}), true);
        Body b = parse_body({"elif", "else", "endif"});
        s->branches.emplace_back(std::move(c), std::move(b));
        if (skip_name("elif")) continue;
        if (skip_name("else")) s->else_body = parse_body({"endif"});
        break;
      }
      soft_ = outer_soft;
      end_tag("endif");
    } else if (tag == "for") {
      s->kind = SK::For;
      s->target = parse_target(false);
      if (!skip_name("in")) fail(cur().line, "expected 'in' in the for loop");
      s->expr = known(parse_tuple(false, false, {"recursive"}), soft_);
      if (skip_name("if")) s->cond = known(parse_expression(true), false);
      if (is_name("recursive")) fail(cur().line, "recursive for loops are not supported");
      ++loop_depth_;
      soft_ = false;
      s->body = parse_body({"endfor", "else"});
      soft_ = outer_soft;
      --loop_depth_;
      if (skip_name("else")) s->else_body = parse_body({"endfor"});
      end_tag("endfor");
    } else if (tag == "set") {
      s->target = parse_target(true);
      if (skip_op("=")) {
        s->kind = SK::Set;
        s->expr = known(parse_tuple(true, false, {}), soft_);
        expect_block_end();
      } else {
        s->kind = SK::SetBlock;
        if (is_op("|")) s->expr = known(parse_filters(nullptr), false);
        soft_ = false;
        s->body = parse_body({"endset"});
        soft_ = outer_soft;
        end_tag("endset");
      }
    } else if (tag == "macro") {
      s->kind = SK::Macro;
      s->text = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!s->params.empty()) expect_op(",");
        if (skip_op(")")) break;
        std::string pname = expect_name();
        ExprP def;
        if (skip_op("=")) def = known(parse_expression(true), false);
        s->params.emplace_back(std::move(pname), std::move(def));
      }
      const int saved = loop_depth_;
      loop_depth_ = 0;
      macros_.push_back(s.get());
      soft_ = false;
      s->body = parse_body({"endmacro"});
      soft_ = outer_soft;
      macros_.pop_back();
      loop_depth_ = saved;
      end_tag("endmacro");
    } else if (tag == "filter") {
      s->kind = SK::FilterBlock;
      s->expr = known(parse_filters(nullptr, true), false);
      soft_ = false;
      s->body = parse_body({"endfilter"});
      soft_ = outer_soft;
      end_tag("endfilter");
    } else if (tag == "with" || tag == "generation") {
      // generation is the tag of transformers' AssistantTracker: it renders its body.
      s->kind = SK::With;
      while (tag == "with" && cur().type != Tok::BlockEnd) {
        if (!s->params.empty()) expect_op(",");
        std::string n = expect_name();
        expect_op("=");
        s->params.emplace_back(std::move(n), known(parse_expression(true), soft_));
      }
      soft_ = false;
      s->body = parse_body({tag == "with" ? "endwith" : "endgeneration"});
      soft_ = outer_soft;
      end_tag(tag == "with" ? "endwith" : "endgeneration");
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail(line, fmt::format("'{}' outside of a loop", tag));
      s->kind = tag == "break" ? SK::Break : SK::Continue;
      expect_block_end();
    } else if (tag == "include" || tag == "extends" || tag == "import" || tag == "from" || tag == "block" ||
               tag == "call" || tag == "do" || tag == "autoescape" || tag == "trans") {
      fail(line, fmt::format("the '{}' tag is not supported", tag));
    } else {
      fail(line, fmt::format("unknown tag '{}'", tag));
    }
    return s;
  }

  // jinja2 refuses an unknown filter or test when it compiles the template, except inside an if
  // (its test and its body, not nested loops, macros or blocks) or a conditional expression:
  // there the error waits until the filter runs.
  ExprP known(ExprP e, bool soft) {
    check_known(*e, soft);
    return e;
  }
  void check_known(const Expr& e, bool soft) {
    if (e.kind == EK::Cond) soft = true;
    if (!soft && e.kind == EK::Filter && !e.filter) fail(e.line, fmt::format("unknown filter '{}'", e.name));
    if (!soft && e.kind == EK::Test && !e.test) fail(e.line, fmt::format("unknown test '{}'", e.name));
    for (const auto& c : e.a)
      if (c) check_known(*c, soft);
    for (const auto& kv : e.kw) check_known(*kv.second, soft);
  }

  // for/set targets: name, name.attr (set only), or a tuple of names.
  Target parse_target(bool with_namespace) {
    Target tg;
    if (with_namespace && cur().type == Tok::Name && look().type == Tok::Op && look().text == ".") {
      tg.names.push_back(next().text);
      next();
      tg.ns_attr = expect_name();
      return tg;
    }
    const bool paren = skip_op("(");
    for (;;) {
      if (cur().type != Tok::Name) fail(cur().line, fmt::format("can't assign to '{}'", describe(cur())));
      const std::string n = next().text;
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
        fail(cur().line, "can't assign to a constant");
      tg.names.push_back(n);
      if (!skip_op(",")) break;
      tg.tuple = true;
      if (paren && is_op(")")) break;  // (a,)
    }
    if (paren) {
      tg.tuple = true;
      expect_op(")");
    }
    return tg;
  }

  // --- expressions ---

  bool is_tuple_end(std::initializer_list<std::string_view> extra) const {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || cur().type == Tok::Eof || is_op(")"))
      return true;
    for (std::string_view e : extra)
      if (is_name(e)) return true;
    return false;
  }

  ExprP parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> extra) {
    const int line = cur().line;
    std::vector<ExprP> items;
    bool is_tuple = false;
    for (;;) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens)
        fail(cur().line, fmt::format("expected an expression, got '{}'", describe(cur())));
    }
    return node(EK::Tuple, line, std::move(items));
  }

  ExprP parse_expression(bool with_condexpr) {
    DepthGuard g(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprP parse_condexpr() {
    const int line = cur().line;
    ExprP e = parse_or();
    while (skip_name("if")) {
      ExprP test = parse_or();
      ExprP other;
      if (skip_name("else")) other = parse_condexpr();
      std::vector<ExprP> ops;
      ops.push_back(std::move(e));
      ops.push_back(std::move(test));
      ops.push_back(std::move(other));
      e = node(EK::Cond, line, std::move(ops));
    }
    return e;
  }

  ExprP binary(EK kind, int line, ExprP l, ExprP r, std::string op = "") {
    std::vector<ExprP> ops;
    ops.push_back(std::move(l));
    ops.push_back(std::move(r));
    ExprP e = node(kind, line, std::move(ops));
    e->name = std::move(op);
    return e;
  }

  ExprP parse_or() {
    ExprP l = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      l = binary(EK::Or, line, std::move(l), parse_and());
    }
    return l;
  }

  ExprP parse_and() {
    ExprP l = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      l = binary(EK::And, line, std::move(l), parse_not());
    }
    return l;
  }

  ExprP parse_not() {
    if (is_name("not")) {
      DepthGuard g(*this);
      const int line = next().line;
      std::vector<ExprP> ops;
      ops.push_back(parse_not());
      return node(EK::Not, line, std::move(ops));
    }
    return parse_compare();
  }

  ExprP parse_compare() {
    const int line = cur().line;
    ExprP first = parse_math1();
    std::vector<ExprP> ops;
    std::vector<std::string> names;
    for (;;) {
      if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        names.push_back(next().text);
      } else if (is_name("in")) {
        next();
        names.emplace_back("in");
      } else if (is_name("not") && look().type == Tok::Name && look().text == "in") {
        next();
        next();
        names.emplace_back("notin");
      } else {
        break;
      }
      ops.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    ops.insert(ops.begin(), std::move(first));
    ExprP e = node(EK::Compare, line, std::move(ops));
    e->ops = std::move(names);
    return e;
  }

  ExprP parse_math1() {
    ExprP l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      const std::string op = t.text;
      l = binary(EK::Bin, t.line, std::move(l), parse_concat(), op);
    }
    return l;
  }

  ExprP parse_concat() {
    const int line = cur().line;
    std::vector<ExprP> args;
    args.push_back(parse_math2());
    while (skip_op("~")) args.push_back(parse_math2());
    if (args.size() == 1) return std::move(args[0]);
    return node(EK::Concat, line, std::move(args));
  }

  ExprP parse_math2() {
    ExprP l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      const std::string op = t.text;
      l = binary(EK::Bin, t.line, std::move(l), parse_pow(), op);
    }
    return l;
  }

  ExprP parse_pow() {
    ExprP l = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      l = binary(EK::Bin, line, std::move(l), parse_unary(true), "**");
    }
    return l;
  }

  ExprP parse_unary(bool with_filter) {
    DepthGuard g(*this);
    const int line = cur().line;
    ExprP e;
    if (is_op("-") || is_op("+")) {
      const bool neg = next().text == "-";
      std::vector<ExprP> ops;
      ops.push_back(parse_unary(false));
      e = node(neg ? EK::Neg : EK::Pos, line, std::move(ops));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprP constant(int line, Value v) {
    ExprP e = node(EK::Const, line);
    e->value = std::move(v);
    return e;
  }

  ExprP parse_primary() {
    const Token& t = cur();
    const int line = t.line;
    switch (t.type) {
      case Tok::Name: {
        const std::string n = next().text;
        if (n == "true" || n == "True") return constant(line, Value::boolean(true));
        if (n == "false" || n == "False") return constant(line, Value::boolean(false));
        if (n == "none" || n == "None") return constant(line, Value::none());
        if (!macros_.empty() && n == "varargs") macros_.back()->varargs = true;
        if (!macros_.empty() && n == "kwargs") macros_.back()->kwargs = true;
        ExprP e = node(EK::Name, line);
        e->name = n;
        return e;
      }
      case Tok::String: {
        std::string s = next().text;
        while (cur().type == Tok::String) s += next().text;
        return constant(line, Value::string(std::move(s)));
      }
      case Tok::Int:
        return constant(line, Value::integer(next().ival));
      case Tok::Float:
        return constant(line, Value::number(next().fval));
      default:
        break;
    }
    if (skip_op("(")) {
      ExprP e = parse_tuple(true, true, {});
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      std::vector<ExprP> items;
      while (!is_op("]")) {
        if (!items.empty()) expect_op(",");
        if (is_op("]")) break;
        items.push_back(parse_expression(true));
      }
      expect_op("]");
      return node(EK::List, line, std::move(items));
    }
    if (skip_op("{")) {
      std::vector<ExprP> items;
      while (!is_op("}")) {
        if (!items.empty()) expect_op(",");
        if (is_op("}")) break;
        items.push_back(parse_expression(true));
        expect_op(":");
        items.push_back(parse_expression(true));
      }
      expect_op("}");
      return node(EK::Dict, line, std::move(items));
    }
    fail(line, fmt::format("unexpected '{}'", describe(t)));
  }

  ExprP parse_postfix(ExprP e) {
    for (;;) {
      if (is_op(".")) {
        const int line = next().line;
        if (cur().type == Tok::Name) {
          std::vector<ExprP> ops;
          ops.push_back(std::move(e));
          ExprP a = node(EK::Attr, line, std::move(ops));
          a->name = next().text;
          e = std::move(a);
        } else if (cur().type == Tok::Int) {
          ExprP k = constant(cur().line, Value::integer(next().ival));
          e = binary(EK::Item, line, std::move(e), std::move(k));
        } else {
          fail(cur().line, "expected a name or a number after '.'");
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprP parse_subscript(ExprP obj) {
    const int line = next().line;  // '['
    std::vector<ExprP> keys;
    while (!is_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(parse_subscribed());
    }
    expect_op("]");
    if (keys.empty()) fail(line, "expected a subscript expression");
    if (keys.size() == 1 && keys[0]->kind == EK::Slice) {
      keys[0]->a.insert(keys[0]->a.begin(), std::move(obj));
      update_depth(*keys[0]);
      return std::move(keys[0]);
    }
    for (const auto& k : keys)
      if (k->kind == EK::Slice) fail(line, "slices inside tuple subscripts are not supported");
    ExprP key = keys.size() == 1 ? std::move(keys[0]) : node(EK::Tuple, line, std::move(keys));
    return binary(EK::Item, line, std::move(obj), std::move(key));
  }

  // Whether jinja2 can evaluate e at compile time: no variables and no calls (known filters and
  // tests of constants are evaluated, except the filters that need the template context).
  static bool is_literal(const Expr& e) {
    if (e.kind == EK::Name || e.kind == EK::Call) return false;
    if ((e.kind == EK::Filter && !e.filter) || (e.kind == EK::Test && !e.test)) return false;
    if (e.kind == EK::Filter && (e.name == "map" || e.name == "select" || e.name == "reject" ||
                                 e.name == "selectattr" || e.name == "rejectattr"))
      return false;
    for (const auto& c : e.a)
      if (c && !is_literal(*c)) return false;
    for (const auto& kv : e.kw)
      if (!is_literal(*kv.second)) return false;
    return true;
  }

  // A {{ }} whose expression is constant is evaluated by jinja2's compiler, where a slice goes
  // through the sandbox's getitem (a TypeError becomes undefined) instead of Python's subscript.
  static ExprP folded(ExprP e) {
    if (is_literal(*e)) mark_slices(*e);
    return e;
  }
  static void mark_slices(Expr& e) {
    if (e.kind == EK::Slice) e.constant = true;
    for (auto& c : e.a)
      if (c) mark_slices(*c);
  }

  // An index, or a slice [start]:[stop][:[step]] (operands start, stop, step; obj added later).
  ExprP parse_subscribed() {
    const int line = cur().line;
    ExprP start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    next();  // ':'
    ExprP stop, step;
    if (!is_op(":") && !is_op("]") && !is_op(",")) stop = parse_expression(true);
    if (skip_op(":"))
      if (!is_op("]") && !is_op(",")) step = parse_expression(true);
    std::vector<ExprP> ops;
    ops.push_back(std::move(start));
    ops.push_back(std::move(stop));
    ops.push_back(std::move(step));
    return node(EK::Slice, line, std::move(ops));
  }

  // (args): positional arguments into e->a (after what is already there), keywords into e->kw.
  void parse_call_args(Expr& e) {
    const int line = cur().line;
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail(line, "*args and **kwargs in calls are not supported");
      if (cur().type == Tok::Name && look().type == Tok::Op && look().text == "=") {
        std::string key = next().text;
        next();
        e.kw.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kw.empty()) fail(line, "invalid syntax for function call expression");
        e.a.push_back(parse_expression(true));
      }
      need_comma = true;
    }
    expect_op(")");
    update_depth(e);
  }

  ExprP parse_call(ExprP callee) {
    std::vector<ExprP> ops;
    ops.push_back(std::move(callee));
    ExprP e = node(EK::Call, cur().line, std::move(ops));
    parse_call_args(*e);
    return e;
  }

  // | name(args) | ... applied to e (null: the body of a filter block or block set).
  ExprP parse_filters(ExprP e, bool start_inline = false) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      const int line = cur().line;
      std::string fname = expect_name();
      while (is_op(".")) {
        next();
        fname += '.';
        fname += expect_name();
      }
      std::vector<ExprP> ops;
      ops.push_back(std::move(e));
      ExprP f = node(EK::Filter, line, std::move(ops));
      f->name = fname;
      f->filter = find_filter(fname);  // unknown: see known()
      f->shallow = filter_is_shallow(fname);
      if (is_op("(")) parse_call_args(*f);
      e = std::move(f);
    }
    return e;
  }

  ExprP parse_test(ExprP e) {
    const int line = next().line;  // 'is'
    const bool negated = skip_name("not");
    std::string tname = expect_name();
    while (is_op(".")) {
      next();
      tname += '.';
      tname += expect_name();
    }
    std::vector<ExprP> ops;
    ops.push_back(std::move(e));
    ExprP t = node(EK::Test, line, std::move(ops));
    t->name = tname;
    t->test = find_test(tname);  // unknown: see known()
    t->shallow = test_is_shallow(tname);
    if (is_op("(")) {
      parse_call_args(*t);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail(cur().line, "you cannot chain multiple tests with is");
      t->a.push_back(parse_postfix(parse_primary()));
      update_depth(*t);
    }
    if (!negated) return t;
    std::vector<ExprP> nops;
    nops.push_back(std::move(t));
    return node(EK::Not, line, std::move(nops));
  }

  ExprP parse_filter_expr(ExprP e) {
    for (;;) {
      if (is_op("|"))
        e = parse_filters(std::move(e));
      else if (is_name("is"))
        e = parse_test(std::move(e));
      else if (is_op("("))
        e = parse_call(std::move(e));
      else
        return e;
    }
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  const std::string& name_;
  const Limits& lim_;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool soft_ = false;          // directly inside an if (see known())
  std::vector<Stmt*> macros_;  // the macros being parsed, innermost last
};

// --- Evaluator ----------------------------------------------------------------------------------

struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  std::shared_ptr<Scope> parent;

  const Value* find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      for (const auto& kv : s->vars)
        if (kv.first == name) return &kv.second;
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& kv : vars)
      if (kv.first == name) {
        kv.second = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }
};
using ScopeP = std::shared_ptr<Scope>;

ScopeP child_scope(const ScopeP& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

enum class Flow : uint8_t { Normal, Break, Continue };

class Renderer final : public Interp {
 public:
  explicit Renderer(const Program& p) : p_(p) {}

  // Namespaces can hold anything, themselves included: the cycles this allows are broken here,
  // after rendering (or a failure).
  ~Renderer() override {
    for (auto& w : namespaces_)
      if (auto d = w.lock()) d->items.clear();
  }

  std::string render(const nlohmann::ordered_json& vars) {
    if (!vars.is_object()) fail("template variables must be a JSON object");
    auto root = std::make_shared<Scope>();
    for (auto it = vars.begin(); it != vars.end(); ++it) {
      try {
        root->set(it.key(), from_json(it.value(), p_.limits.max_depth));
      } catch (const Error& e) {
        fail(fmt::format("template variable '{}' {} (the limit is {} levels)", it.key(), e.what(),
                         p_.limits.max_depth));
      }
    }
    std::string out;
    out_ = &out;
    exec_body(p_.body, root);
    return out;
  }

  // Interp
  std::string where() const override { return fmt::format("{}:{}", p_.name, line_); }
  void charge(uint64_t n) override {
    steps_ += n;
    if (steps_ > p_.limits.max_steps)
      fail(fmt::format("the template exceeded its evaluation step limit ({})", p_.limits.max_steps));
  }
  const Limits& limits() const override { return p_.limits; }
  void track_namespace(const std::shared_ptr<DictObj>& ns) override { namespaces_.push_back(ns); }

  Value call(const Value& callee, CallArgs& args) override {
    if (callee.kind == Kind::Func) return callee.func->call(*this, args);
    if (callee.is_undefined()) fail(callee.str());
    fail(fmt::format("'{}' object is not callable", type_name(callee)));
  }

  Value filter(std::string_view name, const Value& v, CallArgs& args) override {
    FilterFn f = find_filter(name);
    if (!f) fail(fmt::format("no filter named '{}'", name));
    return f(*this, v, args);
  }

  bool test(std::string_view name, const Value& v, CallArgs& args) override {
    TestFn t = find_test(name);
    if (!t) fail(fmt::format("no test named '{}'", name));
    return t(*this, v, args);
  }

  // The sandbox's getattr: a Python attribute (a method) first, then the item.
  Value getattr(const Value& obj, std::string_view name) override {
    switch (obj.kind) {
      case Kind::Undefined:
        fail(obj.str());
      case Kind::Dict:
      case Kind::Str:
      case Kind::List:
        if (auto m = find_method(obj, name)) return *m;
        if (obj.kind == Kind::Dict)
          if (const Value* v = obj.dict->find(name)) return *v;
        break;
      case Kind::Namespace:
      case Kind::Loop:
        if (const Value* v = obj.dict->find(name)) return *v;
        break;
      default:
        break;
    }
    charge(obj.kind == Kind::Dict || obj.kind == Kind::Namespace ? weight(obj) / 8 : 1);
    return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_name(obj), name));
  }

  // The sandbox's getitem: the item first, then (for a string key) the attribute.
  Value getitem(const Value& obj, const Value& key) override {
    if (obj.is_undefined()) fail(obj.str());
    charge(obj.kind == Kind::Str ? weight(obj) : obj.kind == Kind::Dict ? weight(obj) / 8 : 1);
    if (obj.kind == Kind::Dict) {
      if (const Value* v = obj.dict->find(key)) return *v;
    } else if (((obj.kind == Kind::List && obj.list->indexable()) || obj.kind == Kind::Str) &&
               (key.kind == Kind::Int || key.kind == Kind::Bool)) {
      const int64_t k = key.kind == Kind::Bool ? key.b : key.i;
      if (obj.kind == Kind::List) {
        const auto n = static_cast<int64_t>(obj.list->items.size());
        const int64_t idx = k < 0 ? k + n : k;
        if (idx >= 0 && idx < n) return obj.list->items[static_cast<size_t>(idx)];
      } else {
        const std::u32string cs = utf8_decode(obj.str());
        const auto n = static_cast<int64_t>(cs.size());
        const int64_t idx = k < 0 ? k + n : k;
        if (idx >= 0 && idx < n) return Value::string(utf8_encode(cs.substr(static_cast<size_t>(idx), 1)));
      }
    }
    if (key.kind == Kind::Str) {
      Value v = getattr(obj, key.str());
      if (!v.is_undefined()) return v;
      return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_name(obj), key.str()));
    }
    return Value::undefined(fmt::format("{} has no element {}", object_name(obj), py_repr(key, *this)));
  }

 private:
  struct Guard {
    Renderer& r;
    int saved_line;
    Guard(Renderer& renderer, int line) : r(renderer), saved_line(renderer.line_) {
      r.line_ = line;
      if (++r.depth_ > 2 * r.p_.limits.max_depth)
        r.fail(fmt::format("the template nests too deeply (depth limit {})", r.p_.limits.max_depth));
      r.step();
    }
    ~Guard() {
      --r.depth_;
      r.line_ = saved_line;
    }
  };

  void emit(std::string_view s) {
    charge(s.size() / 64);
    out_->append(s);
    check_size(out_->size());
  }

  // --- statements ---

  Flow exec_body(const Body& body, const ScopeP& sc) {
    for (const auto& s : body) {
      const Flow f = exec(*s, sc);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  // Renders body into a string; *flow gets a break or continue that ends it early.
  std::string capture(const Body& body, const ScopeP& sc, Flow* flow = nullptr) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    Flow f;
    try {
      f = exec_body(body, sc);
    } catch (...) {
      out_ = saved;
      throw;
    }
    out_ = saved;
    if (flow) *flow = f;
    return buf;
  }

  Flow exec(const Stmt& s, const ScopeP& sc) {
    Guard g(*this, s.line);
    switch (s.kind) {
      case SK::Text:
        emit(s.text);
        return Flow::Normal;
      case SK::Output: {
        const Value v = eval(*s.expr, sc);
        if (v.kind == Kind::Str)
          emit(v.str());
        else
          emit(py_str(v, *this));
        return Flow::Normal;
      }
      case SK::If:
        for (const auto& [cond, body] : s.branches)
          if (truthy(eval(*cond, sc))) return exec_body(body, sc);
        return exec_body(s.else_body, sc);
      case SK::For:
        return exec_for(s, sc);
      case SK::Set:
        assign(s.target, eval(*s.expr, sc), sc);
        return Flow::Normal;
      // A break or continue inside a block set or filter block leaves the loop at once, without
      // assigning or printing the block (jinja2 compiles them inline).
      case SK::SetBlock: {
        Flow f = Flow::Normal;
        Value v = Value::string(capture(s.body, sc, &f));
        if (f != Flow::Normal) return f;
        if (s.expr) v = apply_filter_chain(*s.expr, std::move(v), sc);
        assign(s.target, std::move(v), sc);
        return Flow::Normal;
      }
      case SK::FilterBlock: {
        Flow f = Flow::Normal;
        std::string body = capture(s.body, sc, &f);
        if (f != Flow::Normal) return f;
        const Value v = apply_filter_chain(*s.expr, Value::string(std::move(body)), sc);
        emit(py_str(v, *this));
        return Flow::Normal;
      }
      case SK::Macro:
        define_macro(s, sc);
        return Flow::Normal;
      case SK::With: {
        ScopeP inner = child_scope(sc);
        for (const auto& [n, e] : s.params) inner->set(n, eval(*e, sc));
        return exec_body(s.body, inner);
      }
      case SK::Break:
        return Flow::Break;
      case SK::Continue:
        return Flow::Continue;
    }
    return Flow::Normal;
  }

  void bind_target(const Target& t, const Value& v, Scope& sc) {
    if (!t.tuple) {
      sc.set(t.names[0], v);
      return;
    }
    if (v.is_undefined()) fail(v.str());
    const std::vector<Value> items = py_iterate(v, *this);
    if (items.size() != t.names.size())
      fail(
          items.size() < t.names.size()
              ? fmt::format("not enough values to unpack (expected {}, got {})", t.names.size(), items.size())
              : fmt::format("too many values to unpack (expected {})", t.names.size()));
    for (size_t k = 0; k < items.size(); ++k) sc.set(t.names[k], items[k]);
  }

  void assign(const Target& t, Value v, const ScopeP& sc) {
    if (t.ns_attr.empty()) {
      bind_target(t, v, *sc);
      return;
    }
    const Value* ns = sc->find(t.names[0]);
    if (!ns || ns->kind != Kind::Namespace) fail("cannot assign attribute on non-namespace object");
    ns->dict->set(Value::string(t.ns_attr), std::move(v));
  }

  Value apply_filter_chain(const Expr& chain, Value v, const ScopeP& sc) {
    // The chain is Filter(Filter(null, f1), f2): apply the innermost first.
    if (chain.a[0]) v = apply_filter_chain(*chain.a[0], std::move(v), sc);
    CallArgs args = eval_args(chain, 1, sc);
    return chain.filter(*this, v, args);
  }

  Flow exec_for(const Stmt& s, const ScopeP& sc) {
    std::vector<Value> items;
    { items = py_iterate(eval(*s.expr, sc), *this); }
    if (s.cond) {
      std::vector<Value> kept;
      for (auto& item : items) {
        ScopeP tmp = child_scope(sc);
        bind_target(s.target, item, *tmp);
        if (truthy(eval(*s.cond, tmp))) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const auto n = static_cast<int64_t>(items.size());
    auto last_changed = std::make_shared<std::optional<Value>>();
    // jinja2 runs the else block unless an iteration reached the end of the body: an empty
    // loop, and also one whose iterations all ended in break or continue.
    bool completed = false;
    for (int64_t k = 0; k < n; ++k) {
      step();
      ScopeP it = child_scope(sc);
      bind_target(s.target, items[static_cast<size_t>(k)], *it);
      it->set("loop", loop_object(items, k, last_changed));
      const Flow f = exec_body(s.body, it);
      completed = completed || f == Flow::Normal;
      if (f == Flow::Break) break;
    }
    if (!completed) return exec_body(s.else_body, child_scope(sc));
    return Flow::Normal;
  }

  Value loop_object(const std::vector<Value>& items, int64_t k,
                    const std::shared_ptr<std::optional<Value>>& changed) {
    const auto n = static_cast<int64_t>(items.size());
    Value loop = Value::make_dict(Kind::Loop);
    auto& d = *loop.dict;
    d.set(Value::string("index"), Value::integer(k + 1));
    d.set(Value::string("index0"), Value::integer(k));
    d.set(Value::string("revindex"), Value::integer(n - k));
    d.set(Value::string("revindex0"), Value::integer(n - k - 1));
    d.set(Value::string("first"), Value::boolean(k == 0));
    d.set(Value::string("last"), Value::boolean(k == n - 1));
    d.set(Value::string("length"), Value::integer(n));
    d.set(Value::string("depth"), Value::integer(1));
    d.set(Value::string("depth0"), Value::integer(0));
    d.set(Value::string("previtem"),
          k > 0 ? items[static_cast<size_t>(k - 1)] : Value::undefined("there is no previous item"));
    d.set(Value::string("nextitem"),
          k + 1 < n ? items[static_cast<size_t>(k + 1)] : Value::undefined("there is no next item"));
    d.set(Value::string("cycle"), Value::function("cycle", [k](Interp& in, CallArgs& a) {
            if (a.pos.empty()) in.fail("no items for cycling given");
            return a.pos[static_cast<size_t>(k) % a.pos.size()];
          }));
    d.set(Value::string("changed"), Value::function("changed", [changed](Interp& in, CallArgs& a) {
            Value cur = Value::make_list(a.pos, true);
            if (*changed && py_equal(**changed, cur, in)) return Value::boolean(false);
            *changed = std::move(cur);
            return Value::boolean(true);
          }));
    return loop;
  }

  void define_macro(const Stmt& m, const ScopeP& sc) {
    macro_scopes_.push_back(sc);
    std::weak_ptr<Scope> weak_def = sc;
    const Stmt* def = &m;
    sc->set(m.text, Value::function(m.text, [this, def, weak_def](Interp&, CallArgs& args) {
              return call_macro(*def, weak_def.lock(), args);
            }));
  }

  Value call_macro(const Stmt& m, const ScopeP& def_scope, CallArgs& args) {
    ScopeP sc = child_scope(def_scope);
    if (args.pos.size() > m.params.size() && !m.varargs)
      fail(fmt::format("macro '{}' takes not more than {} argument(s)", m.text, m.params.size()));
    std::vector<Value> varargs;
    for (size_t k = 0; k < args.pos.size(); ++k) {
      if (k < m.params.size())
        sc->set(m.params[k].first, args.pos[k]);
      else
        varargs.push_back(args.pos[k]);
    }
    Value kwargs = Value::make_dict();
    for (auto& [key, value] : args.kw) {
      bool found = false;
      for (size_t k = 0; k < m.params.size(); ++k)
        if (m.params[k].first == key) {
          if (k < args.pos.size())
            fail(fmt::format("macro '{}' got multiple values for argument '{}'", m.text, key));
          sc->set(key, value);
          found = true;
        }
      if (!found && !m.kwargs) fail(fmt::format("macro '{}' takes no keyword argument '{}'", m.text, key));
      if (!found) kwargs.dict->set(Value::string(key), value);
    }
    for (size_t k = args.pos.size(); k < m.params.size(); ++k) {
      const auto& [pname, def] = m.params[k];
      bool given = false;
      for (const auto& kv : args.kw) given = given || kv.first == pname;
      if (given) continue;
      sc->set(pname,
              def ? eval(*def, sc) : Value::undefined(fmt::format("parameter '{}' was not provided", pname)));
    }
    sc->set("varargs", Value::make_list(std::move(varargs), true));
    sc->set("kwargs", std::move(kwargs));
    Guard g(*this, m.line);
    return Value::string(capture(m.body, sc));
  }

  // --- expressions ---

  CallArgs eval_args(const Expr& e, size_t first, const ScopeP& sc) {
    CallArgs args;
    for (size_t k = first; k < e.a.size(); ++k) {
      args.pos.push_back(eval(*e.a[k], sc));
      charge(weight(args.pos.back()));
    }
    for (const auto& [key, x] : e.kw) {
      args.kw.emplace_back(key, eval(*x, sc));
      charge(weight(args.kw.back().second));
    }
    return args;
  }

  Value lookup(const std::string& name, const ScopeP& sc) {
    if (const Value* v = sc->find(name)) return *v;
    if (auto g = find_global(name)) return *g;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  Value eval(const Expr& e, const ScopeP& sc) {
    Guard g(*this, e.line);
    Value v = eval_node(e, sc);
    if (depth_of(v) > 2 * p_.limits.max_depth)
      fail(fmt::format("a value nests more than {} levels deep", 2 * p_.limits.max_depth));
    return v;
  }

  Value eval_node(const Expr& e, const ScopeP& sc) {
    switch (e.kind) {
      case EK::Const:
        return e.value;
      case EK::Name:
        return lookup(e.name, sc);
      case EK::List:
      case EK::Tuple: {
        std::vector<Value> items;
        items.reserve(e.a.size());
        for (const auto& x : e.a) items.push_back(eval(*x, sc));
        return Value::make_list(std::move(items), e.kind == EK::Tuple);
      }
      case EK::Dict: {
        Value d = Value::make_dict();
        for (size_t k = 0; k + 1 < e.a.size(); k += 2) {
          Value key = eval(*e.a[k], sc);
          if (key.kind == Kind::Dict || (key.kind == Kind::List && !key.list->tuple() && !key.list->once()) ||
              key.is_undefined())
            fail(fmt::format("unhashable type: '{}'", type_name(key)));
          d.dict->set(std::move(key), eval(*e.a[k + 1], sc));
        }
        return d;
      }
      case EK::Attr:
        return getattr(eval(*e.a[0], sc), e.name);
      case EK::Item: {
        const Value obj = eval(*e.a[0], sc);
        return getitem(obj, eval(*e.a[1], sc));
      }
      case EK::Slice:
        return eval_slice(e, sc);
      // Builtins are charged for what they read and build (see weight()).
      case EK::Call: {
        const Value callee = eval(*e.a[0], sc);
        CallArgs args = eval_args(e, 1, sc);
        charge(callee.kind == Kind::Func ? callee.func->weight : 0);
        Value r = call(callee, args);
        charge(weight(r));
        return r;
      }
      case EK::Filter: {
        const Value v = eval(*e.a[0], sc);
        CallArgs args = eval_args(e, 1, sc);
        charge(e.shallow ? 1 : weight(v));
        if (!e.filter) fail(fmt::format("unknown filter '{}'", e.name));
        Value r = e.filter(*this, v, args);
        charge(weight(r));
        return r;
      }
      case EK::Test: {
        const Value v = eval(*e.a[0], sc);
        CallArgs args = eval_args(e, 1, sc);
        charge(e.shallow ? 1 : weight(v));
        if (!e.test) fail(fmt::format("unknown test '{}'", e.name));
        return Value::boolean(e.test(*this, v, args));
      }
      case EK::Not:
        return Value::boolean(!truthy(eval(*e.a[0], sc)));
      case EK::Neg:
      case EK::Pos:
        return unary(e.kind == EK::Neg, eval(*e.a[0], sc));
      case EK::Bin: {
        const Value l = eval(*e.a[0], sc);
        return binary_op(e.name, l, eval(*e.a[1], sc));
      }
      case EK::And: {
        Value l = eval(*e.a[0], sc);
        return truthy(l) ? eval(*e.a[1], sc) : l;
      }
      case EK::Or: {
        Value l = eval(*e.a[0], sc);
        return truthy(l) ? l : eval(*e.a[1], sc);
      }
      case EK::Compare: {
        Value l = eval(*e.a[0], sc);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.a[k + 1], sc);
          if (!compare(e.ops[k], l, r)) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case EK::Concat: {
        std::string s;
        for (const auto& x : e.a) {
          const Value v = eval(*x, sc);
          s += v.kind == Kind::Str ? v.str() : py_str(v, *this);
          check_size(s.size());
        }
        charge(s.size() / 64);
        return Value::string(std::move(s));
      }
      case EK::Cond:
        if (truthy(eval(*e.a[1], sc))) return eval(*e.a[0], sc);
        if (e.a[2]) return eval(*e.a[2], sc);
        return Value::undefined(fmt::format(
            "the inline if-expression on line {} evaluated to false and no else section was defined.",
            e.line));
    }
    return Value();
  }

  // Python's slice semantics. jinja2 slices with Python's own subscript (not the sandbox's
  // getitem), so its errors surface.
  Value eval_slice(const Expr& e, const ScopeP& sc) {
    const Value obj = eval(*e.a[0], sc);
    int64_t bound[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    bool bad = false;
    for (int k = 0; k < 3; ++k) {
      if (!e.a[static_cast<size_t>(k) + 1]) continue;
      const Value v = eval(*e.a[static_cast<size_t>(k) + 1], sc);
      if (v.kind == Kind::None) continue;
      if (v.kind != Kind::Int && v.kind != Kind::Bool) {
        bad = true;
        continue;
      }
      bound[k] = v.kind == Kind::Bool ? v.b : v.i;
      given[k] = true;
    }
    if (obj.is_undefined()) fail(obj.str());
    // A folded slice went through the sandbox's getitem, which turns a TypeError into undefined.
    auto type_error = [&](const std::string& msg) {
      if (e.constant) return Value::undefined(fmt::format("{} has no element slice", object_name(obj)));
      fail(msg);
    };
    if (obj.kind == Kind::Dict) return type_error("unhashable type: 'slice'");
    if ((obj.kind != Kind::List || !obj.list->indexable()) && obj.kind != Kind::Str)
      return type_error(fmt::format("'{}' object is not subscriptable", type_name(obj)));
    if (bad) return type_error("slice indices must be integers or None or have an __index__ method");
    const int64_t step_v = bound[2];
    if (step_v == 0) fail("slice step cannot be zero");
    charge(weight(obj));
    std::u32string chars;
    int64_t len;
    if (obj.kind == Kind::Str) {
      chars = utf8_decode(obj.str());
      len = static_cast<int64_t>(chars.size());
    } else {
      len = static_cast<int64_t>(obj.list->items.size());
    }
    auto adjust = [&](int64_t v, bool has, int64_t dflt) {
      if (!has) return dflt;
      if (v < 0) {
        v = v < -len ? -1 : v + len;
        if (v < 0) v = step_v < 0 ? -1 : 0;
      } else if (v >= len) {
        v = step_v < 0 ? len - 1 : len;
      }
      return v;
    };
    const int64_t start = adjust(bound[0], given[0], step_v < 0 ? len - 1 : 0);
    const int64_t stop = adjust(bound[1], given[1], step_v < 0 ? -1 : len);
    std::vector<size_t> idx;
    if (step_v > 0) {
      for (int64_t i = start; i < stop;) {
        idx.push_back(static_cast<size_t>(i));
        if (step_v >= stop - i) break;
        i += step_v;
      }
    } else {
      for (int64_t i = start; i > stop;) {
        idx.push_back(static_cast<size_t>(i));
        if (step_v <= stop - i) break;  // i + step_v <= stop, without overflow
        i += step_v;
      }
    }
    if (obj.kind == Kind::Str) {
      std::u32string r;
      r.reserve(idx.size());
      for (size_t i : idx) r.push_back(chars[i]);
      return Value::string(utf8_encode(r));
    }
    if (obj.list->seq == Seq::Range) {  // a range's slice is a range, bounds as Python computes them
      const int64_t* rg = obj.list->range;
      return Value::make_range(rg[0] + start * rg[2], rg[0] + stop * rg[2], rg[2] * step_v, idx.size());
    }
    std::vector<Value> r;
    r.reserve(idx.size());
    for (size_t i : idx) r.push_back(obj.list->items[i]);
    return Value::make_seq(std::move(r), obj.list->seq);
  }

  Value unary(bool neg, const Value& v) {
    if (v.is_undefined()) fail(v.str());
    if (v.kind == Kind::Float) return Value::number(neg ? -v.f : v.f);
    if (v.kind == Kind::Int || v.kind == Kind::Bool) {
      const int64_t i = v.kind == Kind::Bool ? v.b : v.i;
      if (neg && i == std::numeric_limits<int64_t>::min()) fail("integer overflow (integers are 64-bit)");
      return Value::integer(neg ? -i : i);
    }
    fail(fmt::format("bad operand type for unary {}: '{}'", neg ? '-' : '+', type_name(v)));
  }

  static int64_t as_int(const Value& v) { return v.kind == Kind::Bool ? (v.b ? 1 : 0) : v.i; }
  static double as_double(const Value& v) {
    return v.kind == Kind::Float ? v.f : static_cast<double>(as_int(v));
  }
  static bool is_intlike(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }

  [[noreturn]] void unsupported(std::string_view op, const Value& l, const Value& r) const {
    fail(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(l), type_name(r)));
  }

  void overflow_check(bool overflow) const {
    if (overflow) fail("integer overflow (integers are 64-bit)");
  }

  Value repeat(const Value& seq, int64_t n) {
    const size_t unit = seq.kind == Kind::Str ? seq.str().size() : seq.list->items.size() * sizeof(Value);
    if (n <= 0 || unit == 0)
      return seq.kind == Kind::Str ? Value::string("") : Value::make_list({}, seq.list->tuple());
    if (unit > 0 && static_cast<uint64_t>(n) > p_.limits.max_output_bytes / unit + 1)
      check_size(p_.limits.max_output_bytes + 1);
    if (seq.kind == Kind::Str) {
      check_size(unit * static_cast<size_t>(n));
      charge(unit * static_cast<uint64_t>(n) / 64);
      std::string s;
      s.reserve(unit * static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) s += seq.str();
      check_size(s.size());
      return Value::string(std::move(s));
    }
    check_items(seq.list->items.size() * static_cast<size_t>(n));
    charge(seq.list->items.size() * static_cast<uint64_t>(n));
    std::vector<Value> items;
    for (int64_t k = 0; k < n; ++k) items.insert(items.end(), seq.list->items.begin(), seq.list->items.end());
    return Value::make_list(std::move(items), seq.list->tuple());
  }

  Value binary_op(const std::string& op, const Value& l, const Value& r) {
    // str % anything is str.__mod__, which takes even an undefined value (printing it as "").
    if (op == "%" && l.kind == Kind::Str) return Value::string(py_percent_format(*this, l.str(), r));
    if (l.is_undefined()) fail(l.str());
    if (r.is_undefined()) fail(r.str());
    const bool nums = l.is_number() && r.is_number();
    const bool ints = is_intlike(l) && is_intlike(r);
    int64_t res = 0;
    if (op == "+") {
      if (ints) {
        overflow_check(__builtin_add_overflow(as_int(l), as_int(r), &res));
        return Value::integer(res);
      }
      if (nums) return Value::number(as_double(l) + as_double(r));
      if (l.kind == Kind::Str && r.kind == Kind::Str) {
        check_size(l.str().size() + r.str().size());
        charge((l.str().size() + r.str().size()) / 64);
        return Value::string(l.str() + r.str());
      }
      if (l.kind == Kind::List && r.kind == Kind::List && l.list->seq == r.list->seq &&
          (l.list->seq == Seq::List || l.list->seq == Seq::Tuple)) {
        check_items(l.list->items.size() + r.list->items.size());
        charge(l.list->items.size() + r.list->items.size());
        std::vector<Value> items = l.list->items;
        items.insert(items.end(), r.list->items.begin(), r.list->items.end());
        return Value::make_list(std::move(items), l.list->tuple());
      }
      if (l.kind == Kind::Str || l.kind == Kind::List)
        fail(fmt::format("can only concatenate {} (not \"{}\") to {}", type_name(l), type_name(r),
                         type_name(l)));
      unsupported("+", l, r);
    }
    if (op == "-") {
      if (ints) {
        overflow_check(__builtin_sub_overflow(as_int(l), as_int(r), &res));
        return Value::integer(res);
      }
      if (nums) return Value::number(as_double(l) - as_double(r));
      unsupported("-", l, r);
    }
    if (op == "*") {
      if (ints) {
        overflow_check(__builtin_mul_overflow(as_int(l), as_int(r), &res));
        return Value::integer(res);
      }
      if (nums) return Value::number(as_double(l) * as_double(r));
      auto repeatable = [](const Value& v) {
        return v.kind == Kind::Str ||
               (v.kind == Kind::List && (v.list->seq == Seq::List || v.list->seq == Seq::Tuple));
      };
      if (repeatable(l) && is_intlike(r)) return repeat(l, as_int(r));
      if (repeatable(r) && is_intlike(l)) return repeat(r, as_int(l));
      if (repeatable(l)) fail(fmt::format("can't multiply sequence by non-int of type '{}'", type_name(r)));
      unsupported("*", l, r);
    }
    if (!nums) unsupported(op, l, r);
    if (op == "/") {
      if (as_double(r) == 0) fail("division by zero");
      return Value::number(as_double(l) / as_double(r));
    }
    if (op == "//" || op == "%") {
      if (ints) {
        const int64_t a = as_int(l), b = as_int(r);
        if (b == 0) fail("integer division or modulo by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1)
          fail("integer overflow (integers are 64-bit)");
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          m += b;
          q -= 1;
        }
        return Value::integer(op == "//" ? q : m);
      }
      const double a = as_double(l), b = as_double(r);
      if (b == 0) fail(op == "//" ? "float floor division by zero" : "float modulo");
      double mod = std::fmod(a, b);
      double div = (a - mod) / b;
      if (mod != 0) {
        if ((b < 0) != (mod < 0)) {
          mod += b;
          div -= 1.0;
        }
      } else {
        mod = std::copysign(0.0, b);
      }
      if (op == "%") return Value::number(mod);
      double fd;
      if (div != 0) {
        fd = std::floor(div);
        if (div - fd > 0.5) fd += 1.0;
      } else {
        fd = std::copysign(0.0, a / b);
      }
      return Value::number(fd);
    }
    // "**" (jinja2 folds it left to right)
    if (ints && as_int(r) >= 0) {
      int64_t base = as_int(l), e = as_int(r), acc = 1;
      while (e > 0) {
        step();
        if (e & 1) overflow_check(__builtin_mul_overflow(acc, base, &acc));
        e >>= 1;
        if (e > 0) overflow_check(__builtin_mul_overflow(base, base, &base));
      }
      return Value::integer(acc);
    }
    const double a = as_double(l), b = as_double(r);
    if (a == 0 && b < 0) fail("0.0 cannot be raised to a negative power");
    if (a < 0 && b != std::floor(b)) fail("complex results are not supported");
    const double p = std::pow(a, b);
    if (std::isinf(p) && !std::isinf(a)) fail("numerical result out of range");
    return Value::number(p);
  }

  bool contains(const Value& container, const Value& item) {
    charge(weight(container));
    switch (container.kind) {
      case Kind::Undefined:
        return false;
      case Kind::Str:
        if (item.kind != Kind::Str)
          fail(fmt::format("'in <string>' requires string as left operand, not {}", type_name(item)));
        return container.str().find(item.str()) != std::string::npos;
      case Kind::List: {
        const ListObj& l = *container.list;
        l.consume();
        for (size_t k = l.once() ? l.next : 0; k < l.items.size(); ++k)
          if (py_equal(l.items[k], item, *this)) {
            if (l.once()) l.next = k + 1;  // a generator is consumed up to the match
            return true;
          }
        if (l.once()) l.next = l.items.size();
        return false;
      }
      case Kind::Dict:
        if (item.kind == Kind::Dict || (item.kind == Kind::List && item.list->seq == Seq::List))
          fail(fmt::format("unhashable type: '{}'", type_name(item)));
        return container.dict->find(item) != nullptr;
      default:
        fail(fmt::format("argument of type '{}' is not iterable", type_name(container)));
    }
  }

  bool compare(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return py_equal(l, r, *this);
    if (op == "!=") return !py_equal(l, r, *this);
    if (op == "in") return contains(r, l);
    if (op == "notin") return !contains(r, l);
    if (op == "<") return py_less(l, r, *this, op);
    if (op == ">") return py_less(r, l, *this, op);
    if (op == "<=") return py_less(l, r, *this, op) || py_equal(l, r, *this);
    return py_less(r, l, *this, op) || py_equal(l, r, *this);  // ">="
  }

  const Program& p_;
  std::string* out_ = nullptr;
  uint64_t steps_ = 0;
  int depth_ = 0;
  int line_ = 0;
  std::vector<ScopeP> macro_scopes_;  // scopes macros were defined in, alive until the end
  std::vector<std::weak_ptr<DictObj>> namespaces_;
};

}  // namespace
}  // namespace detail

Template::Template(std::string_view source, std::string name, Limits limits) {
  auto prog = std::make_shared<detail::Program>();
  prog->name = std::move(name);
  prog->limits = limits;
  detail::Lexer lexer(detail::normalize_newlines(source), prog->name);
  detail::Parser parser(lexer.run(), prog->name, prog->limits);
  prog->body = parser.parse();
  prog_ = std::move(prog);
}

std::string Template::render(const nlohmann::ordered_json& vars) const {
  detail::Renderer r(*prog_);
  return r.render(vars);
}

const std::string& Template::name() const {
  return prog_->name;
}

}  // namespace r1::jinja
