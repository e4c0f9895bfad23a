// Internals of the Jinja interpreter shared by jinja.cpp (lexer, parser, evaluator),
// jinja_value.cpp (values and Python's conversions) and jinja_builtins.cpp (filters, tests,
// methods, globals). Not part of the library's interface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/jinja.h"

namespace r1::jinja::detail {

// --- UTF-8 --------------------------------------------------------------------------------------
// Decoding maps each byte of an invalid sequence to U+DC80+byte (Python's surrogateescape), and
// encoding maps those back, so any byte string survives a round trip.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t c);
size_t utf8_length(std::string_view s);  // code points
bool py_isspace(char32_t c);             // Python's str.isspace()
// Byte length of the Python whitespace character starting at pos (0 if none) / ending at end.
size_t space_len_at(std::string_view s, size_t pos);
size_t space_len_before(std::string_view s, size_t end);

// --- Values -------------------------------------------------------------------------------------
enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, Str, List, Dict, Namespace, Loop, Func };

struct Value;
class Interp;

// What a List value is in Python. Besides lists and tuples, jinja2's filters and dict methods
// return lazy sequences, and templates see their behaviour: generators and iterators (map,
// select, items, reverse, ...) iterate once, are always true and have no len() or index; dict
// views have len() but no index; range has both.
enum class Seq : uint8_t { List, Tuple, Range, Generator, Reversed, Items, Keys, Values };

struct ListObj {
  std::vector<Value> items;
  Seq seq = Seq::List;
  mutable size_t next = 0;       // Generator/Reversed: items already consumed
  int64_t range[3] = {0, 0, 1};  // Range: start, stop, step (as printed)
  // Generator: the error computing it raised. Generators are lazy in jinja2: the error surfaces
  // only when the generator is consumed.
  std::shared_ptr<const std::string> error;
  int depth = 1;         // nesting depth (see depth_of)
  void consume() const;  // throws the pending error, if any
  bool tuple() const { return seq == Seq::Tuple; }
  bool indexable() const { return seq == Seq::List || seq == Seq::Tuple || seq == Seq::Range; }
  bool once() const { return seq == Seq::Generator || seq == Seq::Reversed; }
};

// Python's dict (insertion order kept); also a namespace's or a loop's attributes.
struct DictObj {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;  // nesting depth (see depth_of); only grows
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

struct FuncObj {
  std::string name;
  std::function<Value(Interp&, CallArgs&)> call;
  uint64_t weight = 0;  // a bound method: the weight of its receiver (charged per call)
  int depth = 1;        // a bound method: holds its receiver
};

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::shared_ptr<const std::string> s;  // Str; for Undefined, the error if it is misused
  std::shared_ptr<const ListObj> list;   // List (immutable once built, like the sandbox's)
  std::shared_ptr<DictObj> dict;         // Dict, Namespace (mutable through set ns.x), Loop
  std::shared_ptr<const FuncObj> func;

  static Value none() { return with_kind(Kind::None); }
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  static Value undefined(std::string hint);
  static Value make_list(std::vector<Value> items, bool tuple = false);
  static Value make_seq(std::vector<Value> items, Seq seq);
  static Value make_range(int64_t start, int64_t stop, int64_t step, size_t n);  // n items
  static Value failed_generator(std::string error);
  static Value make_dict(Kind kind = Kind::Dict);
  static Value function(std::string name, std::function<Value(Interp&, CallArgs&)> fn, uint64_t weight = 0,
                        int depth = 1);

  const std::string& str() const { return *s; }
  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_str() const { return kind == Kind::Str; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_seq() const { return kind == Kind::List; }

 private:
  static Value with_kind(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

// A template variable's value. Recursive, so bounded: a value nesting more than depth_limit levels
// (Limits::max_depth, below the JSON readers' kJsonMaxDepth) fails with "nests too deeply"; the
// message is to follow "template variable 'NAME' ".
Value from_json(const nlohmann::ordered_json& j, int depth_limit);
// The work a value stands for when a builtin reads or builds it, in steps.
uint64_t weight(const Value& v);
// How deeply v nests containers (0 for scalars). The evaluator bounds it, so that printing,
// comparing and destroying values cannot recurse without limit.
int depth_of(const Value& v);

// Python's type name ("str", "dict", "NoneType", ...), as in its error messages.
std::string type_name(const Value& v);
// jinja2's "'dict object'" wording for undefined hints.
std::string object_name(const Value& v);
bool truthy(const Value& v);
// str(v) as jinja2 prints it ("" for undefined), repr(v), and json.dumps(v) with the
// given options. Depth-limited: values can nest through namespaces.
std::string py_str(const Value& v, Interp& in);
std::string py_repr(const Value& v, Interp& in);
std::string py_float_repr(double d);
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // None: one line
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
std::string py_json(const Value& v, const JsonOptions& opt, Interp& in);
bool py_equal(const Value& a, const Value& b, Interp& in);
// a < b with Python's rules (numbers, strings, lists, tuples); TypeError otherwise.
bool py_less(const Value& a, const Value& b, Interp& in, std::string_view op = "<");
// Python's iteration: list items, dict keys, a string's characters; undefined is empty.
std::vector<Value> py_iterate(const Value& v, Interp& in);
// len(v) (undefined: 0); fails for values without a length.
int64_t py_len(const Value& v, Interp& in);
std::string str_lower(std::string_view s);
// msg with control characters escaped: errors reach the user as one line.
std::string one_line(std::string_view msg);
std::string str_upper(std::string_view s);

// --- The evaluator's services to the builtins --------------------------------------------------
class Interp {
 public:
  virtual ~Interp() = default;
  // Throws r1::Error "NAME:LINE: msg" for the template line being evaluated.
  [[noreturn]] void fail(const std::string& msg) const;
  virtual std::string where() const = 0;  // "NAME:LINE"
  // Work done, in steps (an expression, a loop iteration, an item copied or compared, 64 bytes
  // of string processed), checked against Limits::max_steps.
  virtual void charge(uint64_t steps) = 0;
  void step() { charge(1); }
  virtual const Limits& limits() const = 0;
  virtual Value call(const Value& callee, CallArgs& args) = 0;
  virtual Value filter(std::string_view name, const Value& v, CallArgs& args) = 0;
  virtual bool test(std::string_view name, const Value& v, CallArgs& args) = 0;
  virtual Value getattr(const Value& obj, std::string_view name) = 0;
  virtual Value getitem(const Value& obj, const Value& key) = 0;
  virtual void track_namespace(const std::shared_ptr<DictObj>& ns) = 0;
  // Fails when a string of n bytes would exceed Limits::max_output_bytes.
  void check_size(size_t n) const;
  // Fails when a list of n items would exceed the memory the output limit implies (16 bytes of
  // output per item: a Value is about 100 bytes).
  void check_items(size_t n) const;
};

// Binds Python-style arguments to parameter names: bound[i] is the i-th parameter's value,
// empty when not given. Fails on extra or unknown arguments, naming fname.
std::vector<std::optional<Value>> bind_args(Interp& in, CallArgs& args, std::string_view fname,
                                            std::initializer_list<std::string_view> params);

using FilterFn = Value (*)(Interp&, const Value&, CallArgs&);
using TestFn = bool (*)(Interp&, const Value&, CallArgs&);
FilterFn find_filter(std::string_view name);  // nullptr if unknown
TestFn find_test(std::string_view name);
// Filters and tests that look only at the top of their input (its kind, its length, one item
// of a list) and charge any deeper work themselves. The evaluator charges every other filter
// and test the weight of its input; these cost a step, as they cost Python O(1), so
// `messages|length` in a loop over the messages keeps the loop linear (Qwen3's template does
// that, and a long conversation must not hit the step limit).
bool filter_is_shallow(std::string_view name);
bool test_is_shallow(std::string_view name);
// obj.name for a method of a str, dict or list (a bound function); nullopt if there is none.
std::optional<Value> find_method(const Value& obj, std::string_view name);
// Python's printf-style formatting, fmt % args (a tuple, a mapping for %(name)s, or one value).
std::string py_percent_format(Interp& in, std::string_view fmt, const Value& args);
// A global function (range, namespace, dict, raise_exception, strftime_now, ...); nullopt if none.
std::optional<Value> find_global(std::string_view name);

}  // namespace r1::jinja::detail
