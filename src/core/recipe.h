// Recipes: a TOML file that describes a run (model, data, training settings), plus
// command-line overrides ("--set train.lr=3e-4"). Keys are dotted paths ("train.lr" is key
// "lr" in table [train]). Every lookup error names the recipe and the key, so a typo or a
// wrong type is reported as one line the user can act on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

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

  // True if the dotted key names a value or a table.
  bool has(std::string_view key) const;

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

  // The effective recipe (file plus overrides) as TOML text, for saving into a run
  // directory; parse(to_toml()) gives the same values.
  std::string to_toml() const;

  const std::string& name() const { return name_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_ = "<recipe>";
};

}  // namespace r1
