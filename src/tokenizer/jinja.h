// A Jinja interpreter of our own for chat templates: a lexer, a parser to an AST and a tree-walking
// evaluator over JSON-like values. It renders what Python's jinja2 renders in the environment
// Hugging Face uses for chat templates (transformers' ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls; tojson is json.dumps(ensure_ascii=False);
// raise_exception and strftime_now are globals), byte for byte: Python's str() of values,
// jinja2's undefined semantics, scoping (a loop iteration is a scope; if is not) and whitespace
// control.
//
// The subset: {{ }}, {% %}, {# #}, raw, whitespace control (- and +), if/elif/else, for (tuple
// targets, loop filters, else, the loop object), break/continue, set (names, tuples, ns.attr,
// block set), namespace(), macros, filter blocks, with, generation (Hugging Face's tag); the
// expression grammar of jinja2 (literals, tuples, lists, dicts, slices, calls with keywords,
// filters, tests, conditional expressions, chained comparisons); the common filters, tests and
// str/dict/list methods. Anything else (include, extends, import, call blocks, unknown filters
// or tests) is refused at parse time with a one-line r1::Error "NAME:LINE: ...".
//
// Hostile templates are bounded: nesting depth (parser and evaluator), evaluation steps, and the
// size of any string built (the output included). Exceeding a limit is an r1::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace r1::jinja {

struct Limits {
  size_t max_output_bytes = size_t{64} << 20;  // any string built, the rendered text included
  int max_depth = 256;                         // template nesting, expression nesting, macro calls
  // Expressions evaluated plus loop iterations plus what builtins read and build (an item, 64
  // bytes); a builtin that looks only at the top of a value (length of a list, first, is
  // defined) costs one step, so rendering stays linear in a long conversation.
  uint64_t max_steps = 50'000'000;
};

namespace detail {
struct Program;
}

class Template {
 public:
  // Parses source. name is used in error messages ("NAME:LINE: message").
  Template(std::string_view source, std::string name, Limits limits = {});

  // Renders with the given top-level variables (a JSON object; keys keep their order, which
  // tojson and printing of mappings preserve). Runtime errors, raise_exception() included,
  // are r1::Error "NAME:LINE: message".
  std::string render(const nlohmann::ordered_json& vars) const;

  const std::string& name() const;

 private:
  std::shared_ptr<const detail::Program> prog_;
};

}  // namespace r1::jinja
