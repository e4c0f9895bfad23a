// Recipes: a TOML file that describes a run (model, data, training settings), plus
// command-line overrides ("--set train.lr=3e-4"). Keys are dotted paths ("train.lr" is key
// "lr" in table [train]). Every lookup error names the recipe and the key, so a typo or a
// wrong type is reported as one line the user can act on.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace r1 {

// What one recipe key may hold: its type and, for numbers, the valid range (NaN and the
// infinities are never valid); for strings, the allowed values (none listed: any string).
// A trainer lists a rule for every key it reads, and Recipe::check applies them all before
// anything runs, so a typo, a wrong type or a value out of range is refused up front, naming
// the key as the user wrote it.
struct KeyRule {
  enum class Type { kInt, kFloat, kBool, kString, kFloatArray };
  std::string key;
  Type type = Type::kFloat;
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;  // the bound itself excluded
  std::vector<std::string> choices;

  // The range as the error message states it: "> 0", ">= 1", "in [0, 1)".
  std::string range_text() const;

  // Builders. int_at_least("train.steps", 1); real("train.beta1", 0, 1, false, true) is [0, 1).
  static KeyRule integer(std::string key, int64_t lo, int64_t hi);
  static KeyRule int_at_least(std::string key, int64_t lo);
  static KeyRule real(std::string key, double lo, double hi, bool lo_open = false, bool hi_open = false);
  static KeyRule positive(std::string key);      // > 0
  static KeyRule non_negative(std::string key);  // >= 0
  static KeyRule finite(std::string key);        // any finite number
  static KeyRule boolean(std::string key);
  static KeyRule string(std::string key, std::vector<std::string> choices = {});
  static KeyRule float_array(std::string key);
};

// The rules as a table, one key a line: "train.lr  number  > 0" (what --list-keys prints).
std::string format_rules(const std::vector<KeyRule>& rules);

class Recipe {
 public:
  // Reads and parses a recipe file; the path becomes the recipe's name in error messages.
  static Recipe load(const std::string& path);
  // Parses recipe text. Syntax errors read "<name>:<line>:<column>: <what is wrong>".
  static Recipe parse(std::string_view text, std::string name = "<recipe>");

  Recipe();
  Recipe(const Recipe& other);
  Recipe(Recipe&& other) noexcept;
  Recipe& operator=(const Recipe& other);
  Recipe& operator=(Recipe&& other) noexcept;
  ~Recipe();

  // Applies one override "dotted.key=value". The value is parsed as a TOML value (numbers,
  // booleans, quoted strings, arrays, inline tables); anything that is not valid TOML is
  // taken as a bare string, so "data.path=foo.jsonl" works without shell-quoted quotes.
  // Missing intermediate tables are created.
  void set(std::string_view assignment);

  // Sets the dotted key to the string as it is (no TOML parsing: a path with quotes or
  // backslashes stays that path). Missing intermediate tables are created.
  void set_string(std::string_view key, const std::string& value);

  // Removes the dotted key (a value or a whole table) if present.
  void erase(std::string_view key);

  // True if the dotted key names a value or a table.
  bool has(std::string_view key) const;

  // The names directly under the table `key` (values and tables alike), sorted; empty when the
  // key is absent. A key that names a value, not a table, is an error naming it.
  std::vector<std::string> keys_under(std::string_view key) const;

  // The table `key` as a recipe of its own (its keys relative to the table), named `name` in its
  // error messages; an empty recipe when the key is absent. A key that names a value, not a
  // table, is an error naming it.
  Recipe table(std::string_view key, std::string name) const;

  // Getters: the one-argument form requires the key; the two-argument form returns `def`
  // when the key is absent. A present key of the wrong type is always an error, never
  // silently replaced by the default.
  // Integers: a float that is exactly an integer (steps = 1e4) is accepted.
  int64_t get_int(std::string_view key, int64_t def) const;
  int64_t get_int(std::string_view key) const;
  // Floats: integers are accepted (lr = 1 means 1.0).
  double get_float(std::string_view key, double def) const;
  double get_float(std::string_view key) const;
  std::string get_string(std::string_view key, const std::string& def) const;
  std::string get_string(std::string_view key) const;
  bool get_bool(std::string_view key, bool def) const;
  bool get_bool(std::string_view key) const;
  // Arrays whose elements are all numbers (integers or floats).
  std::vector<double> get_float_array(std::string_view key, const std::vector<double>& def) const;
  std::vector<double> get_float_array(std::string_view key) const;

  // Every leaf key (dotted path to a non-table value) must be in known_keys; otherwise fails
  // with "<name>: unknown key 'trian.lr' (did you mean 'train.lr'?)" for the first unknown key
  // in sorted order. The suggestion is the closest known key by edit distance, when close.
  void check_known(const std::vector<std::string>& known_keys) const;

  // check_known over the rules' keys, then every present key's type and range: fails with
  // "<name>: key 'train.lr' must be > 0, got -0.001" or "... must be a finite number, got nan".
  void check(const std::vector<KeyRule>& rules) const;

  // The leaf keys whose values differ between two recipes (present in one only, or different
  // values), sorted, each as "train.lr: 0.001 -> 0.002" ("(absent)" for a missing side).
  // Keys in `ignore` are skipped.
  static std::vector<std::string> differences(const Recipe& before, const Recipe& after,
                                              const std::vector<std::string>& ignore = {});

  // The effective recipe (file plus overrides) as TOML text, for saving into a run
  // directory; parse(to_toml()) gives the same values.
  std::string to_toml() const;

  const std::string& name() const { return name_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_ = "<recipe>";
};

// Typed settings read from a recipe, each key declared once: its rule (KeyRule) and where its
// value goes in a settings struct S. rules() is what Recipe::check and --list-keys use; read()
// checks the recipe against them and fills S, leaving S's own default where a key is absent. So
// the list of known keys is derived from the code that reads them and cannot drift from it.
//
//   RecipeSchema<Settings> s;
//   s.add(KeyRule::positive("train.lr"), [](Settings& x) -> double& { return x.lr; });
//   s.add_choice("grpo.loss_agg", {{"seq-mean", Agg::kSeqMean}, ...}, [](Settings& x) -> Agg& { return x.agg;
//   }); Settings x = s.read(recipe);
template <class S>
class RecipeSchema {
 public:
  // A key whose value is stored in the field the accessor returns: int/int64_t/uint64_t (integer
  // rules), float/double (number rules), bool, std::string, std::vector<double>.
  template <class Access>
  RecipeSchema& add(KeyRule rule, Access field, bool required = false) {
    std::string key = rule.key;
    readers_.push_back([key, field, required](const Recipe& r, S& s) {
      if (!required && !r.has(key)) return;
      auto& v = field(s);
      using T = std::remove_reference_t<decltype(v)>;
      if constexpr (std::is_same_v<T, bool>)
        v = r.get_bool(key);
      else if constexpr (std::is_integral_v<T>)
        v = static_cast<T>(r.get_int(key));
      else if constexpr (std::is_floating_point_v<T>)
        v = static_cast<T>(r.get_float(key));
      else if constexpr (std::is_same_v<T, std::string>)
        v = r.get_string(key);
      else
        v = r.get_float_array(key);
    });
    rules_.push_back(std::move(rule));
    return *this;
  }
  // The same for a data member of S.
  template <class T>
  RecipeSchema& add(KeyRule rule, T S::*member, bool required = false) {
    return add(
        std::move(rule), [member](S& s) -> T& { return s.*member; }, required);
  }
  // A string key whose allowed values map to values of an enum (or any type).
  template <class T, class Access>
  RecipeSchema& add_choice(std::string key, std::vector<std::pair<std::string, T>> choices, Access field) {
    std::vector<std::string> names;
    for (const auto& c : choices) names.push_back(c.first);
    readers_.push_back([key, choices, field](const Recipe& r, S& s) {
      if (!r.has(key)) return;
      const std::string v = r.get_string(key);
      for (const auto& c : choices)
        if (c.first == v) field(s) = c.second;
    });
    rules_.push_back(KeyRule::string(std::move(key), std::move(names)));
    return *this;
  }
  // Keys that are checked here but read by other code (say, reward weights by the reward spec).
  RecipeSchema& add_rule(KeyRule rule) {
    rules_.push_back(std::move(rule));
    return *this;
  }
  // Everything of another schema whose settings live in a part of S.
  template <class P, class Access>
  RecipeSchema& add_part(const RecipeSchema<P>& part, Access field) {
    for (const KeyRule& k : part.rules()) rules_.push_back(k);
    for (const auto& rd : part.readers())
      readers_.push_back([rd, field](const Recipe& r, S& s) { rd(r, field(s)); });
    return *this;
  }

  const std::vector<KeyRule>& rules() const { return rules_; }
  const std::vector<std::function<void(const Recipe&, S&)>>& readers() const { return readers_; }

  // Recipe::check(rules() and `extra`, the rules of keys whose names depend on the recipe, read
  // by the caller), then every present (or required) key into a copy of `defaults`.
  S read(const Recipe& r, S defaults = S{}, const std::vector<KeyRule>& extra = {}) const {
    if (extra.empty()) {
      r.check(rules_);
    } else {
      std::vector<KeyRule> all = rules_;
      all.insert(all.end(), extra.begin(), extra.end());
      r.check(all);
    }
    for (const auto& rd : readers_) rd(r, defaults);
    return defaults;
  }

 private:
  std::vector<KeyRule> rules_;
  std::vector<std::function<void(const Recipe&, S&)>> readers_;
};

}  // namespace r1
