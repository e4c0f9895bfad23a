// The Jinja interpreter against Python's jinja2 (configured as transformers configures it for
// chat templates): a corpus of small templates covering the lexer's whitespace rules, literals,
// operators, undefined values, statements, scoping, filters, tests and methods must render
// byte for byte as jinja2 renders them, and fail where jinja2 fails. Then what needs no oracle:
// error messages with lines, the limits that bound hostile templates, raise_exception.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/jinja.h"
#include "tokenizer/jinja_oracle.h"

namespace {

using ojson = nlohmann::ordered_json;
using r1::jinja::Limits;
using r1::jinja::Template;
using r1::testing::error_of;
using r1::testing::expect_error;

struct Case {
  const char* tmpl;
  const char* vars = "{}";
};

const char* kVars = R"({"d": {"a": 1, "b": [1, 2], "items": "I"}, "l": [3, 1, 2], "s": "héllo wörld",
  "n": null, "t": true, "f": false, "i": 7, "x": 2.5, "e": "", "el": [], "ed": {},
  "people": [{"name": "Bob", "age": 31, "tags": ["a"]}, {"name": "alice", "age": 25, "tags": []},
             {"name": "Carol", "age": 31}],
  "msgs": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
           {"role": "assistant", "content": "A"}]})";

const std::vector<Case> kCorpus = {
    // --- the lexer: delimiters, whitespace control, trim_blocks, lstrip_blocks, newlines ---
    {"  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n"},
    {"a\n{%- if true -%}\n b \n{%- endif -%}\nc"},
    {"{% if true +%}\nx\n  {%+ endif %}\ny"},
    {"  {#- c -#}  x  {# c #}\n  y\n  {# c +#}\nz"},
    {"  {# comment #}  \nz\n    {# c2 #}\n!"},
    {"{% raw %}{{ x }}{% if %}{% endraw %}"},
    {"  {% raw -%}  a {{ b }}  {%- endraw %}\nb"},
    {"x\n  {% raw %}\n  y\n  {% endraw %}\n  z"},
    {"\t{% for i in [1,2] %}\n\t{{ i }}\n\t{% endfor %}\n"},
    {"x  {{- 1 -}}  y {{+ 2 }} z"},
    {"a\r\nb\rc\n{{ 1 }}\r\n"},
    {"{{ 'a' }}\n\n"},
    {"{{ 'a' }}\n"},
    {"\n"},
    {""},
    {"text with { and } and {x} and %} and #} and }}"},
    {"{% if true %}   {% endif %}x"},
    {"abc {% if true %}x{% endif %}\n  {% if true %}\n   y\n{% endif %}"},
    {"\u3000\u2003{% if true %}x{% endif %}|\u00a0{{ 1 }}"},
    {"{{ '%}' }}{{ '}}' }}{{ {'a': {'b': 1}} }}{{ [{'c': (1, 2)}] }}"},
    {"{%- set x = 1 -%}\n\n\n{{ x }}\n  \n{%- set y = 2 %}\n{{ y }}"},
    {"{# a {{ b }} {% c %} #}d"},
    {"{{- ' a ' -}}\n"},
    {"a {%- if true %} b {% endif -%} c"},
    {"{% for i in [1, 2] -%}\n  {{ i }}\n{%- endfor %}"},
    {"{%\n  if true\n%}multi-line tag{%\nendif\n%}"},
    {"{{\n  1\n  +\n  2\n}}"},
    {"  {%- if true %}x{% endif %}"},
    {"line\n    {% for x in l %}\n    - {{ x }}\n    {% endfor %}\nend"},
    // --- literals and printing (Python's str and repr) ---
    {"{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1.0e-7 }} {{ 2E+2 }}"},
    {"{{ 12345678901234567.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 123.456 }} {{ 1.5e300 "
     "}}"},
    {"{{ [0.1, 0.2 + 0.1, 1 / 3, 2 / 3, 1e22, 5e-324, -0.0, 100.0] }}"},
    {"{{ 'a\\tb\\nc' }}|{{ \"q\\\"q\" }}|{{ 'a' 'b' \"c\" }}|{{ '\\x41\\u00e9\\U0001F600\\101\\q\\\\' }}"},
    {"{{ '\\é' }}|{{ 'it\\'s' }}|{{ 'a\\\nb' }}"},
    {"{{ true }} {{ True }} {{ none }} {{ None }} {{ false }} {{ False }}"},
    {"{{ [1, 'a', none, true, 1.5, [2], {'k': 'v'}] }}"},
    {"{{ (1,) }} {{ () }} {{ (1, 2) }} {{ {} }} {{ {'a': 1, 2: 'b', none: 3, 1.5: true} }} {{ 1, 2 }}"},
    {"{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'tab\\t', 'nl\\n', 'uni é 中 😀', '\\\\'] }}"},
    {"{{ ['\\x00\\x1f\\x7f\\x80\\x9f\\xa0\\xad\\u2028\\u200b\\ufeff'] }}"},
    {"{{ d }}|{{ l }}|{{ n }}|{{ t }}|{{ x }}|{{ e }}|{{ el }}|{{ ed }}|{{ people[0] }}"},
    {"{{ .5 }}"},
    {"{{ 1. }}"},
    {"{{ 'unterminated }}"},
    {"{{ '\\xZZ' }}"},
    // --- operators ---
    {"{{ 1 + 2 }} {{ 1 - 2.5 }} {{ 2 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }}"},
    {"{{ -7 // 2 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** -2 }} {{ "
     "-7.5 // 2 }}"},
    {"{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 // 3 * 2 }} {{ 2 * 3 + 1 }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}"},
    {"{{ 1 + 2 ~ 3 }}"},
    {"{{ 1 ~ 2 ~ none ~ true ~ 1.5 ~ [1] ~ u }}"},
    {"{{ 1 / 0 }}"},
    {"{{ 1 // 0 }}"},
    {"{{ 1.5 % 0 }}"},
    {"{{ 'a' * 3 }} {{ 3 * 'ab' }} {{ [1, 2] * 2 }} {{ 'x' * -1 }}| {{ 'x' * true }} {{ (1,) * 2 }}"},
    {"{{ [1] + [2] }} {{ (1,) + (2,) }} {{ 'a' + 'b' }} {{ true + true }} {{ 1 + 1.5 }}"},
    {"{{ [1] + (2,) }}"},
    {"{{ 'a' + 1 }}"},
    {"{{ 1 + 'a' }}"},
    {"{{ 'a' - 'b' }}"},
    {"{{ 'abc' < 'abd' }} {{ [1, 2] < [1, 2, 0] }} {{ 1 < 1.5 }} {{ true > 0 }} {{ 'é' > 'z' }} {{ (1, 2) >= "
     "(1, 2) }}"},
    {"{{ 1 == 1.0 }} {{ 'a' == 'a' }} {{ [1] == [1.0] }} {{ (1,) == [1] }} {{ {'a': 1} == {'a': 1} }} "
     "{{ none == none }} {{ u == u }} {{ u == none }} {{ 1 != 2 }} {{ d == {'items': 'I', 'b': [1, 2], 'a': "
     "1} }}"},
    {"{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 == true }} {{ 1 < 2 > 0 }}"},
    {"{{ 'a' < 1 }}"},
    {"{{ [1] < [1, 'a'] }} {{ [1, 2] < [1, 'a'] }}"},
    {"{{ 'a' in 'cat' }} {{ 'x' not in ['a'] }} {{ 1 in {1: 2} }} {{ 'k' in {'k': 1} }} {{ 'x' in u }} "
     "{{ 1 in [1.0] }} {{ 'ab' not in 'cabd' }} {{ none in [none] }} {{ '' in 'a' }}"},
    {"{{ 1 in 'abc' }}"},
    {"{{ 'a' in 5 }}"},
    {"{{ [1] in {} }}"},
    {"{{ not 1 == 2 }} {{ not none }} {{ not not 1 }} {{ 1 if true else 2 }} [{{ 1 if false }}] "
     "{{ 'y' if 0 else 'n' if 1 else 'z' }}"},
    {"{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ [] or none }} {{ 1 and 0 }} {{ '' or '' }} {{ u or 'dflt' }} "
     "[{{ u and 1 }}]"},
    {"{{ -i }} {{ +x }} {{ -true }} {{ - -1 }}"},
    {"{{ -'a' }}"},
    {"{{ 9223372036854775807 + 0 }} {{ -9223372036854775807 - 1 }}"},
    // --- attributes, items, undefined ---
    {"{{ d.a }} {{ d['a'] }} [{{ d.missing }}] [{{ d['missing'] }}] {{ d.missing is defined }} {{ l[0] }} "
     "{{ l[-1] }} [{{ l[10] }}] {{ l.0 }} {{ s[0] }} {{ s[-1] }} {{ s[1] }} [{{ s[100] }}] {{ d['items'] }}"},
    {"{{ d.missing.x }}"},
    {"{{ u.x }}"},
    {"{{ u['x'] }}"},
    {"{{ u() }}"},
    {"{{ u + 1 }}"},
    {"{{ 1 + u }}"},
    {"{{ u < 1 }}"},
    {"{{ -u }}"},
    {"{{ l[10].x }}"},
    {"{{ l.missing.x }}"},
    {"{{ d.a() }}"},
    {"[{{ u }}|{{ u ~ 'x' }}|{{ u | length }}|{{ u | string }}|{{ u | list }}|{{ u | default('d') }}|"
     "{{ u | upper }}|{{ u is defined }}|{{ u is undefined }}|{{ not u }}|{{ u | first }}|{{ u | last }}|"
     "{{ u | join(',') }}|{{ u | trim }}|{{ u | items | list }}|{{ u | sort }}|{{ u | reverse | list }}]"},
    {"{% for x in u %}x{% else %}empty{% endfor %}"},
    {"[{{ none.x }}|{{ none['x'] }}|{{ 1.x }}|{{ n.a }}|{{ i[0] }}|{{ t.x }}|{{ d[1.5] }}|{{ l['a'] }}|{{ "
     "s.x }}]"},
    {"{{ u | tojson }}"},
    {"{{ u | int }}"},
    {"{{ u | abs }}"},
    {"{{ d.items() | list }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('z', "
     "'dflt') }} "
     "{{ d.get('z') }}"},
    {"{{ 'abc'.upper() }} {{ 'ABC'.lower() }} [{{ s.nonexistent }}]"},
    {"{{ s.nonexistent() }}"},
    {"{{ l[::-1] }} {{ l[1:] }} {{ l[:1] }} {{ l[::2] }} {{ l[-2:] }} {{ l[:-2:-1] }} {{ l[5:] }} {{ "
     "l[-100:100] }} "
     "{{ l[1:0] }} {{ l[::-2] }} {{ l[2:0:-1] }} {{ (1, 2, 3)[1:] }}"},
    {"{{ s[::-1] }}|{{ s[1:3] }}|{{ s[-3:] }}|{{ s[:0] }}|{{ 'abcdef'[::2] }}|{{ 'abcdef'[::-3] }}|{{ "
     "s[None:2] }}"},
    {"{{ d[1:] }}"},
    {"{{ l['a':] }}"},
    {"{{ l[::0] }}"},
    {"{{ msgs[0]['role'] }} {{ msgs[-1].content }} {{ msgs | length }} {{ msgs[1:] | map(attribute='role') | "
     "list }}"},
    // --- statements and scoping ---
    {"{% if i > 10 %}big{% elif i > 5 %}mid{% elif i > 0 %}small{% else %}neg{% endif %}"},
    {"{% if u %}a{% elif n %}b{% else %}c{% endif %}{% if el %}x{% endif %}{% if 'x' %}y{% endif %}"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }};{% endfor %}{% for k, v in d.items() %}{{ k }}={{ v "
     "}};{% endfor %}"},
    {"{% for k in d %}{{ k }}{% endfor %}|{% for c in s %}{{ c }}.{% endfor %}|{% for (a, b) in [(1, 2)] "
     "%}{{ a + b }}{% endfor %}"},
    {"{% for x in [1, 2, 3, 4, 5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% "
     "endif %}"
     "{{ x }}{% endfor %}"},
    {"{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ loop.index }}|{% "
     "endfor %}"},
    {"{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}][{{ loop.nextitem }}]{{ "
     "loop.depth }}"
     "{{ loop.depth0 }}{{ loop.cycle('a', 'b') }}{{ loop.changed(x > 1) }}|{% endfor %}"},
    {"{% for x in l if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% else %}none{% endfor %}"},
    {"{% for x in l if x > 5 %}{{ x }}{% else %}none{% endfor %}"},
    {"{% for x in none %}{% endfor %}"},
    {"{% for x in 5 %}{% endfor %}"},
    {"{% for a, b in [1, 2] %}{% endfor %}"},
    {"{% for a, b in [[1, 2, 3]] %}{% endfor %}"},
    {"{% for i in [1, 2] %}{% if i == 2 %}[{{ v }}]{% endif %}{% set v = i %}{% endfor %}[{{ v }}]"},
    {"{% set v = 1 %}{% for i in [1, 2] %}{{ v }}{% set v = i + 5 %}{{ v }}{% endfor %}{{ v }}"},
    {"{% set v = 1 %}{% if true %}{% set v = 2 %}{% endif %}{{ v }}"},
    {"{% for x in [1] %}{% set inner = 5 %}{% endfor %}[{{ inner }}]"},
    {"{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set (c,) = [9] %}{{ c }}{% set (p, q) = 'pq' %}{{ q }}{{ p }}"},
    {"{% set a, b = [1] %}"},
    {"{% set v %}block {{ 1 }}\n{% endset %}[{{ v }}]{% set w | upper | replace('B', 'b') %}abc{% endset "
     "%}{{ w }}"},
    {"{% set ns = namespace(a=1, b=[]) %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a "
     "}}"
     "{{ ns.b }} {{ ns }}"},
    {"{% set ns = namespace() %}[{{ ns.x }}|{{ ns.x is defined }}]{% set ns.x = 'y' %}{{ ns.x }}{{ ns['x'] "
     "}}"},
    {"{% set ns = namespace(d) %}{{ ns.a }}{{ ns.items }}{% set ns2 = namespace({'k': 1}, k=2) %}{{ ns2.k "
     "}}"},
    {"{% set x = 1 %}{% set x.y = 2 %}"},
    {"{% set missing.y = 2 %}"},
    {"{% macro hello(name, greeting='Hi') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ hello('Bob') }} "
     "{{ hello('Ann', greeting='Yo') }} {{ hello(name='C') }} {{ hello('D', 'E') }}"},
    {"{% macro f(a) %}[{{ a }}{{ varargs }}{{ kwargs }}]{% endmacro %}{{ f(1) }}{{ f(1, 2, 3) }}{{ f(1, z=2) "
     "}}"},
    {"{% macro f(a) %}[{{ a }}]{% endmacro %}{{ f(1, 2) }}"},
    {"{% macro f(a) %}[{{ a }}]{% endmacro %}{{ f(b=2) }}"},
    {"{% macro f(a, b) %}[{{ a }}|{{ b }}|{{ b is defined }}]{% endmacro %}{{ f(1) }}{{ f() }}"},
    {"{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}"},
    {"{% macro m(x, y=x * 2) %}{{ y }}{% endmacro %}{{ m(3) }}{{ m(3, 1) }}"},
    {"{% set g = 'G' %}{% macro m() %}{{ g }}{{ i }}{% endmacro %}{{ m() }}{% set g = 'H' %}{{ m() }}"},
    {"{% macro m() %}a\n  {% if true %}\n  b\n  {% endif %}\n{% endmacro %}[{{ m() }}]{{ m() | length }}"},
    {"{% filter upper %}hello {{ 'x' }}{% endfilter %}{% filter replace('a', 'b') | upper %}aaa{% endfilter "
     "%}"},
    {"{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% set c = 3 %}{% endwith %}[{{ a }}{{ c }}]"},
    {"{% with %}{% set q = 1 %}{{ q }}{% endwith %}[{{ q }}]"},
    {"{% generation %}gen {{ 1 }}{% set q = 2 %}{% endgeneration %}[{{ q }}]"},
    {"{{ raise_exception('boom: ' ~ i) }}"},
    {"{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }} "
     "{{ range(3, 1) | list }} {{ range(-3) | list }}"},
    {"{{ range(200000) | length }}"},
    {"{{ range(1, 2, 0) | list }}"},
    {"{{ dict(a=1, b=2) }} {{ dict() }} {{ dict({'x': 1}, y=2) }}"},
    {"{{ loop.index }}"},
    // --- filters ---
    {"{{ s | length }} {{ l | count }} {{ d | length }} {{ '' | length }} {{ 'é😀' | length }}"},
    {"{{ 5 | length }}"},
    {"[{{ '  a b \\n' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ none | trim }}] [{{ 5 | trim }}]"},
    {"{{ s | upper }} {{ 'ÀÉÎ ΣΑ Жж' | lower }} {{ 'straße ÿ' | upper }} {{ 5 | upper }} {{ none | lower }}"},
    {"{{ 'hello WORLD' | capitalize }} {{ 'hello world-foo(bar [x <y {z' | title }} {{ 'x' | capitalize }}"},
    {"{{ 'aXbXc' | replace('X', '-') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '.') }} "
     "{{ 123 | replace(2, 9) }}"},
    {"{{ l | join }} {{ l | join(', ') }} {{ people | join('/', attribute='name') }} {{ [1, none, 'a'] | "
     "join('-') }}"},
    {"{{ l | first }} {{ l | last }} {{ s | first }} {{ s | last }} [{{ el | first }}] [{{ el | last }}] {{ "
     "d | first }}"},
    {"{{ u | default('dflt') }} {{ n | default('dflt') }} {{ e | default('dflt', true) }} "
     "{{ 0 | default('dflt', boolean=true) }} {{ u | d }} {{ 1 | d(2) }}"},
    {"{{ d | items | list }} {{ ed | items | list }} {{ d | list }} {{ s | list }}"},
    {"{{ l | list | string }} {{ 1 | string }} {{ none | string }} {{ d | string }}"},
    {"{{ d | tojson }}|{{ l | tojson }}|{{ s | tojson }}|{{ n | tojson }}|{{ t | tojson }}|{{ x | tojson }}"},
    {"{{ people | tojson(indent=2) }}|{{ d | tojson(indent=0) }}|{{ el | tojson(indent=2) }}|{{ ed | "
     "tojson(indent=4) }}"},
    {"{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ d | tojson(indent='\\t') "
     "}}"},
    {"{{ 'é\\n\\t\"\\\\/<>&\\u2028\\x01\\x7f😀' | tojson }}|{{ 'é😀' | tojson(ensure_ascii=true) }}"},
    {"{{ {1: 'a', 1.5: 'b', true: 'c', none: 'd'} | tojson }}|{{ (1, 'a') | tojson }}|{{ [1e16, 0.1, -0.0] | "
     "tojson }}"},
    {"{{ namespace(a=1) | tojson }}"},
    {"{{ {(1, 2): 3} | tojson }}"},
    {"{{ -3 | abs }} {{ -2.5 | abs }} {{ true | abs }}"},
    {"{{ 'x' | abs }}"},
    {"{{ 'x' | int }} {{ '42.7' | int }} {{ ' 0x1F ' | int(base=16) }} {{ '1_000' | int }} {{ 3.9 | int }} "
     "{{ -3.9 | int }} {{ true | int }} {{ none | int }} {{ '0b11' | int(0, 2) }} {{ 'z' | int(-1) }} {{ '  "
     "-7 ' | int }}"},
    {"{{ '1.5' | float }} {{ 'x' | float }} {{ 3 | float }} {{ ' 1e3 ' | float }} {{ 'inf' | float }} "
     "{{ '-inf' | float }} {{ 'x' | float(1.5) }} {{ none | float }} {{ '1_0.5' | float }}"},
    {"{{ 2.5 | round }} {{ 3.5 | round }} {{ 3 | round }} {{ 0.125 | round(2) }} {{ 3.14159 | round(2, "
     "'floor') }} "
     "{{ 3.14159 | round(2, 'ceil') }} {{ 2.675 | round(2) }} {{ -2.5 | round }} {{ 1.0 | round(1) }}"},
    {"{{ l | reverse | list }} {{ s | reverse }} {{ (1, 2) | reverse | list }}"},
    {"{{ l | sort }} {{ l | sort(reverse=true) }} {{ ['b', 'A', 'a', 'B'] | sort }} "
     "{{ ['b', 'A', 'a', 'B'] | sort(case_sensitive=true) }} {{ people | sort(attribute='age') | "
     "map(attribute='name') | list }} "
     "{{ people | sort(attribute='name') | map(attribute='name') | list }}"},
    {"{{ [1, 'a'] | sort }}"},
    {"{{ {'b': 1, 'a': 2, 'C': 0} | dictsort }} {{ {'b': 1, 'A': 2} | dictsort(by='value', reverse=true) }} "
     "{{ {'b': 1, 'A': 2} | dictsort(true) }}"},
    {"{{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }} "
     "{{ people | unique(attribute='age') | map(attribute='name') | list }}"},
    {"{{ l | max }} {{ l | min }} [{{ el | max }}] {{ ['b', 'A', 'a'] | max }} {{ ['b', 'A', 'a'] | min }} "
     "{{ people | max(attribute='age') }}"},
    {"{{ l | sum }} {{ [1.5, 2] | sum }} {{ people | sum(attribute='age') }} {{ l | sum(start=10) }} {{ el | "
     "sum }}"},
    {"{{ ['a', 'b'] | map('upper') | list }} {{ people | map(attribute='age') | list }} "
     "{{ people | map(attribute='tags.0', default='none') | list }} {{ l | map('string') | join }} "
     "{{ ['a,b', 'c'] | map('replace', ',', ';') | list }}"},
    {"{{ people | selectattr('tags') | map(attribute='name') | list }} {{ l | select('odd') | list }} "
     "{{ l | reject('equalto', 2) | list }} {{ people | selectattr('age', 'equalto', 31) | "
     "map(attribute='name') | list }} "
     "{{ people | rejectattr('age', '>', 30) | map(attribute='name') | list }} {{ [0, 1, '', 'a'] | select | "
     "list }} "
     "{{ msgs | selectattr('role', 'in', ['user', 'system']) | list | length }}"},
    {"{{ people | attr('0') }} {{ d | attr('a') }} [{{ d | attr('zz') }}]"},
    {"{{ '<a href=\"x\">&\\'' | e }} {{ 'x' | escape }} {{ none | e }} {{ '<b>' | safe }}"},
    {"{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) "
     "}}|"
     "{{ 'a\\nb' | indent('> ') }}|{{ '' | indent }}"},
    {"[{{ 'abc' | center(9) }}|{{ 'abc' | center(8) }}|{{ 'abcd' | center(9) }}|{{ 'abc' | center(2) }}]"},
    {"{{ 'one two three four' | truncate(9) }}|{{ 'one two three four five six seven' | truncate(12, true) "
     "}}|"
     "{{ 'short' | truncate(10) }}|{{ 'one two three four five' | truncate(10, false, '!', 0) }}"},
    {"{{ 'one, two  three_four 5' | wordcount }} {{ '' | wordcount }}"},
    {"{{ x | nosuchfilter }}"},
    // --- lazy sequences: generators, iterators, dict views, range ---
    {"{% set g = l | select('odd') %}{{ g | list }}{{ g | list }}|{% if el | select %}yes{% endif %}|"
     "[{{ (l | map('string'))[0] }}]|{{ (l | map('string')) is sequence }}|{{ (l | map('string')) is "
     "iterable }}"},
    {"{% set g = l | map('string') %}{{ g | first }}{{ g | list }}|{{ l | select | first }}{{ l | reverse | "
     "first }}|"
     "{{ 3 in l | select }}|{% for x in l | reverse %}{{ x }}{% endfor %}|{{ l | unique | list }}|{{ d | "
     "items | list }}"},
    {"{% set g = l | select %}{{ 1 in g }}{{ g | list }}|{{ l | reverse | list }}|{{ (l | reverse | list) | "
     "reverse | list }}"},
    {"{{ l | map('string') | length }}"},
    {"{% set g = x | selectattr('a') %}{{ [g].a }}{{ g is defined }}|{% set h = l | map('nosuch') %}ok"},
    {"{% set g = x | selectattr('a') %}{{ g | list }}"},
    {"{% set h = l | map('int', 1, 2, 3) %}{{ h | first }}"},
    {"{% for v in l %}{% set b %}[{{ v }}{% if v == 1 %}{% break %}{% endif %}]{% endset %}{{ b }}{% endfor "
     "%}|"
     "{% for v in l %}{% filter upper %}x{% if v == 3 %}{% continue %}{% endif %}y{% endfilter %}{% endfor "
     "%}"},
    {"{{ ({}[:-1]) | reject('none') }}"},
    {"{% for v in range(3) %}{% break %}{% else %}ELSE{% endfor %}|"
     "{% for v in range(3) %}{{ v }}{% if v > 0 %}{% continue %}{% endif %}{% else %}ELSE{% endfor %}|"
     "{% for v in range(3) %}{% continue %}{% else %}ELSE{% endfor %}"},
    {"{{ l | reverse | last }}"},
    {"{{ l | map('string') | tojson }}"},
    {"{{ d.items() }}|{{ d.keys() }}|{{ d.values() }}|{{ d.keys() | length }}|{{ 'a' in d.keys() }}|"
     "{{ d.values() | list }}|{{ d.items() | first }}|{{ ed.items() | list }}|{% if ed.keys() %}x{% else "
     "%}empty{% endif %}|"
     "[{{ d.keys()[0] }}]|{{ d.keys() is sequence }}|{{ d.items() | last }}"},
    {"{{ d.items() | tojson }}"},
    {"{{ range(3) }}|{{ range(1, 10, 3) }}|{{ range(3)[1] }}|{{ range(3) | length }}|{{ range(0) }}|{{ "
     "range(5)[1:3] }}|"
     "{{ range(3) is sequence }}|{{ 2 in range(3) }}|{{ range(10, 0, -3) }}|{{ range(3) == range(3) }}"},
    {"{{ range(3) | tojson }}"},
    {"{{ l | batch(2) | list }} {{ l | batch(2, 'x') | list }} {{ l | slice(2) | list }} {{ [1, 2, 3, 4, 5] "
     "| slice(3, 0) | list }}"},
    {"{{ msgs | selectattr('role', 'equalto', 'system') | list | length > 0 }} {{ [0] * 3 == [0, 0, 0] }}"},
    // --- unknown filters and tests: compile errors, except where an if or a conditional expression
    // defers them to when they run ---
    {"{% if false %}{{ x | nosuch }}{% elif false %}{{ x is nosuch }}{% else %}ok{% endif %}|{{ x | nosuch "
     "if false else 1 }}"},
    {"{% if true %}{{ x | nosuch }}{% endif %}"},
    {"{% if false %}{% for i in l %}{{ i | nosuch }}{% endfor %}{% endif %}"},
    {"{% if false %}{% set v %}{{ 1 | nosuch }}{% endset %}{% endif %}"},
    {"{% if x | nosuch %}{% endif %}"},
    {"{{ 'a' | indent }}|{{ 1 | indent }}"},
    // --- tests ---
    {"{{ n is none }} {{ u is none }} {{ t is boolean }} {{ 1 is boolean }} {{ f is false }} {{ 0 is false "
     "}} "
     "{{ t is true }} {{ 1 is true }} {{ i is integer }} {{ t is integer }} {{ x is float }} {{ i is float "
     "}}"},
    {"{{ i is number }} {{ x is number }} {{ t is number }} {{ s is number }} {{ s is string }} {{ 1 is "
     "string }} "
     "{{ d is mapping }} {{ l is mapping }} {{ ns is mapping }}"},
    {"{{ s is sequence }} {{ l is sequence }} {{ d is sequence }} {{ 1 is sequence }} {{ u is sequence }} "
     "{{ n is sequence }} {{ s is iterable }} {{ 5 is iterable }} {{ u is iterable }} {{ range is callable "
     "}} "
     "{{ s is callable }} {{ u is callable }} {{ s.upper is callable }}"},
    {"{{ 3 is odd }} {{ 3 is even }} {{ 6 is divisibleby 3 }} {{ 7 is divisibleby(2) }} {{ i is eq 7 }} "
     "{{ i is equalto 7 }} {{ i is ne 7 }} {{ i is lt 8 }} {{ i is gt 8 }} {{ i is le 7 }} {{ i is ge 8 }} "
     "{{ i is lessthan 10 }} {{ i is greaterthan 1 }} {{ x is odd }} {{ 3.0 is odd }} {{ 3.0 is divisibleby "
     "1.5 }} "
     "{{ -3 is odd }} {{ 0 is even }}"},
    {"{{ 'a' is odd }}"},
    {"{{ 'a' is in 'abc' }} {{ 1 is in l }} {{ 'a' is in d }} {{ 'abc' is lower }} {{ 'aBc' is lower }} "
     "{{ 'ABC' is upper }} {{ '1' is upper }} {{ n is sameas none }} {{ t is sameas true }} {{ 1 is sameas 1 "
     "}} "
     "{{ 'upper' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }} {{ s is escaped }}"},
    {"{{ x is not none }} {{ u is not defined }} {{ not x is none }} {{ x is defined and x > 1 }} "
     "{{ 'y' if u is defined else 'n' }} {{ n is none or false }}"},
    {"{{ x is nosuchtest }}"},
    {"{{ x is defined is defined }}"},
    // --- methods ---
    {"[{{ '  a b  '.strip() }}|{{ '  a b  '.lstrip() }}|{{ '  a b  '.rstrip() }}|{{ 'xyaxy'.strip('xy') }}|"
     "{{ '\\n\\na\\n'.strip('\\n') }}|{{ 'abc'.lstrip('ba') }}|{{ '\\u3000a\\u00a0'.strip() }}]"},
    {"{{ 'a,b,,c'.split(',') }} {{ 'a,b,,c'.split(',', 1) }} {{ '  a b  c '.split() }} {{ '  a b  c "
     "'.split(None, 1) }} "
     "{{ '  a b  c '.rsplit(None, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ''.split(',') }} {{ ''.split() }} "
     "{{ 'a<>b<>c'.split('<>') }} {{ 'abab'.split('ab') }} {{ 'x'.rsplit('x') }}"},
    {"{{ 'a'.split('') }}"},
    {"{{ s.startswith('hé') }} {{ s.startswith(('x', 'hé')) }} {{ s.endswith('ld') }} {{ s.endswith('x') }} "
     "{{ ''.startswith('') }}"},
    {"{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 1) }} {{ 'abc'.replace('', '-') }} "
     "{{ s.find('l') }} {{ s.find('zz') }} {{ s.rfind('l') }} {{ 'aaaa'.count('aa') }} {{ 'ab'.count('') }}"},
    {"{{ ','.join(['a', 'b']) }} {{ ''.join(s) }} {{ '-'.join(d) }}"},
    {"{{ ','.join([1, 2]) }}"},
    {"{{ 'a\\nb\\r\\nc\\rd\\x0be'.splitlines() }} {{ 'a\\nb\\n'.splitlines(true) }} {{ ''.splitlines() }}"},
    {"{{ 'hello wORLD'.title() }} {{ \"they're\".title() }} {{ 'hELLO'.capitalize() }} {{ 'abc'.upper() }} "
     "{{ '123'.isdigit() }} {{ '12a'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ ' "
     "\\t'.isspace() }} "
     "{{ ''.isspace() }} {{ 'ABC1'.isupper() }} {{ 'abc'.islower() }} {{ '1'.islower() }}"},
    {"{{ l.index(1) }} {{ l.count(3) }} {{ [1, 1].count(1) }}"},
    {"{{ l.index(99) }}"},
    {"{{ l.append(4) }}"},
    {"{{ d.update({}) }}"},
    {"{{ '%s-%r-%d-%i-%5.2f-%x-%X-%o-%c-%%-%e-%g-%+d-%05d-%-4s|' % ('a', 'b', 3.9, True, 3.14159, 255, 255, "
     "8, 65, "
     "1234.5, 0.00001, 5, 42, 'z') }}"},
    {"{{ '%(a)s+%(b)05.1f' % {'a': 1, 'b': 2.25} }}|{{ 'abc' % [] }}|{{ 'abc' % {} }}|{{ '%s' % [1, 2] }}|"
     "{{ '%s' % (none,) }}|{{ '%.2s' % 'hello' }}|{{ '%*d' % (5, 3) }}|{{ '%s' | format('a') }}|{{ '%s-%s' | "
     "format(1, 2) }}|"
     "{{ '%(k)s' | format(k='v') }}|{{ '%#x %#o %e %G' % (255, 8, 12345.678, 1e-10) }}|{{ '%c' % 'é' }}|{{ "
     "'% d' % 5 }}|"
     "{{ '%s' % u }}|{{ '%5s|%-5s|' % ('ab', 'cd') }}|{{ '%.3g|%10.4e|%g' % (3.14159, 2.5, 1e20) }}|{{ '%r' "
     "% 'it\\'s' }}|"
     "{{ '%a' % 'é' }}|{{ '%.3d|%-6.2f|%06.1f|%x' % (5, -2.5, -2.25, -255) }}|{{ '7' % () }}"},
    {"{{ 'abc' % 5 }}"},
    {"{{ '%s %s' % 5 }}"},
    {"{{ '%d' % 'x' }}"},
    {"{{ '%x' % 2.5 }}"},
    {"{{ '%q' % 1 }}"},
    {"{{ s.format() }}|{{ '{}-{}'.format(1, 'a') }}|{{ '{1}{0}{1}'.format('a', 'b') }}|{{ "
     "'{x}{{}}'.format(x=none) }}|"
     "{{ '{!r}'.format('q') }}"},
    {"{{ '{}{0}'.format(1) }}"},
    {"{{ '{'.format(1) }}"},
    // --- syntax errors (jinja2 refuses these too) ---
    {"{% if %}{% endif %}"},
    {"{{ }}"},
    {"{% for x in %}{% endfor %}"},
    {"{% endfor %}"},
    {"{{ 1 + }}"},
    {"{{ [1, 2 }}"},
    {"{{ (1, 2] }}"},
    {"{% if true %}unclosed"},
    {"{# unclosed comment"},
    {"{% raw %}unclosed raw"},
    {"{{ x ! y }}"},
    {"{{ 1 2 }}"},
    {"{% set = 1 %}"},
    {"{% set 1 = 1 %}"},
    {"{% for 1 in l %}{% endfor %}"},
    {"{% include 'x.j2' %}"},
    {"{% extends 'base' %}"},
    {"{% import 'x' as y %}"},
    {"{% do l.append(1) %}"},
    {"{% nosuchtag %}"},
    {"{% if true %}{% else %}{% else %}{% endif %}"},
    {"{% macro %}{% endmacro %}"},
    {"{{ f(a=1, 2) }}"},
    {"{{ 'a' is }}"},
    {"{{ x | }}"},
    {"{{ {1: } }}"},
    {"{{ x.1.y }}", R"({"x": [0, {"y": "deep"}]})"},
    {"{% set c, = [9] %}"},
    {"{% for a, in [[1]] %}{% endfor %}"},
    {"{{ [1, 2][0:'a'] }}"},
    {"{{ none[1:] }}"},
    {"{{ u[1:] }}"},
    {"{% if true %}{% endfor %}"},
};

std::string describe(const Case& c) {
  return std::string("template: ") + c.tmpl + "\nvars: " + c.vars;
}

}  // namespace

TEST(JinjaVsJinja2, Corpus) {
  const std::string dir = r1::testing::scratch_dir();
  const ojson common = ojson::parse(kVars);
  ojson items = ojson::array();
  std::vector<ojson> vars;
  for (const Case& c : kCorpus) {
    ojson v = common;
    const ojson own = ojson::parse(c.vars);
    for (auto it = own.begin(); it != own.end(); ++it) v[it.key()] = it.value();
    vars.push_back(v);
    items.push_back({{"template", c.tmpl}, {"vars", v}});
  }
  std::string skip;
  const auto expected = r1::testing::run_jinja2(items, dir, &skip);
  if (!expected) R1_SKIP_WITHOUT_ORACLE(skip);
  int rendered = 0, refused = 0;
  for (size_t i = 0; i < kCorpus.size(); ++i) {
    SCOPED_TRACE(describe(kCorpus[i]));
    const auto& want = (*expected)[i];
    std::string got, err;
    try {
      got = Template(kCorpus[i].tmpl, "t").render(vars[i]);
    } catch (const r1::Error& e) {
      err = e.what();
    }
    if (want.ok) {
      ++rendered;
      EXPECT_EQ(err, "") << "jinja2 rendered: " << want.text;
      if (err.empty()) {
        EXPECT_EQ(got, want.text);
      }
    } else {
      ++refused;
      EXPECT_NE(err, "") << "jinja2 failed (" << want.text << ") but r1 rendered: " << got;
      EXPECT_EQ(err.find('\n'), std::string::npos) << err;
    }
  }
  std::printf("jinja2 corpus: %d templates rendered, %d refused (by both)\n", rendered, refused);
}

TEST(Jinja, RendersWithoutOracle) {
  // A few renderings checked by hand, so the interpreter is tested where jinja2 is absent.
  const ojson vars = ojson::parse(R"({"msgs": [{"role": "user", "content": "Hi"}], "n": 3})");
  EXPECT_EQ(
      Template("  {% for m in msgs %}\n  <{{ m.role }}>{{ m.content }}\n  {% endfor %}\n", "t").render(vars),
      "  <user>Hi\n");
  EXPECT_EQ(
      Template("{{ n * 2 }}|{{ n / 2 }}|{{ [1, 'a', none] }}|{{ {'k': true} | tojson }}", "t").render(vars),
      "6|1.5|[1, 'a', None]|{\"k\": true}");
  EXPECT_EQ(Template("{% set ns = namespace(c=0) %}{% for i in range(n) %}{% set ns.c = ns.c + i %}{% endfor "
                     "%}{{ ns.c }}",
                     "t")
                .render(vars),
            "3");
  EXPECT_EQ(Template("[{{ missing }}]{{ missing is defined }}", "t").render(vars), "[]False");
}

TEST(Jinja, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(error_of([] { Template("line1\n{% include 'x' %}", "tmpl.jinja"); }),
            "tmpl.jinja:2: the 'include' tag is not supported");
  EXPECT_EQ(error_of([] { Template("a\nb\n{{ x | frobnicate }}", "cfg"); }),
            "cfg:3: unknown filter 'frobnicate'");
  EXPECT_EQ(error_of([] { Template("{{ x is frob }}", "cfg"); }), "cfg:1: unknown test 'frob'");
  EXPECT_EQ(error_of([] { Template("{% if x %}\n\n", "cfg"); }),
            "cfg:2: unexpected end of template, expected 'elif'");
  EXPECT_EQ(error_of([] { Template("{{ a ! b }}", "cfg"); }), "cfg:1: unexpected character '!'");
  EXPECT_EQ(error_of([] { Template("{% for x in l recursive %}{% endfor %}", "cfg"); }),
            "cfg:1: recursive for loops are not supported");
  EXPECT_EQ(error_of([] { Template("{% break %}", "cfg"); }), "cfg:1: 'break' outside of a loop");
  EXPECT_EQ(error_of([] { Template("{% call foo() %}{% endcall %}", "cfg"); }),
            "cfg:1: the 'call' tag is not supported");
  EXPECT_EQ(error_of([] { Template("{{ '\\N{BULLET}' }}", "cfg"); }),
            "cfg:1: \\N{...} escapes are not supported");
  EXPECT_EQ(error_of([] { Template("{{ 99999999999999999999 }}", "cfg"); }),
            "cfg:1: integer literal 99999999999999999999 is too large (integers are 64-bit)");
  expect_error([] { Template("{# never closed", "cfg"); }, {"cfg:1:", "comment"});
}

TEST(Jinja, RuntimeErrorsNameTheLine) {
  const ojson vars = ojson::parse(R"({"d": {}})");
  EXPECT_EQ(error_of([&] { Template("a\n{{ d.x.y }}", "t").render(vars); }),
            "t:2: 'dict object' has no attribute 'x'");
  EXPECT_EQ(error_of([&] { Template("{{ nope + 1 }}", "t").render(vars); }), "t:1: 'nope' is undefined");
  EXPECT_EQ(error_of([&] { Template("\n\n{{ raise_exception('bad\\nrole') }}", "t").render(vars); }),
            "t:3: template error: bad\\nrole");
  EXPECT_EQ(error_of([&] { Template("{{ 'a' + 1 }}", "t").render(vars); }),
            "t:1: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of([&] { Template("{{ 1 }}", "t").render(ojson::array()); }),
            "t:0: template variables must be a JSON object");
}

TEST(Jinja, LimitsBoundHostileTemplates) {
  Limits small;
  small.max_output_bytes = 1000;
  small.max_steps = 100000;
  small.max_depth = 50;
  const ojson vars = ojson::object();
  // Output size: by text, by repetition, by concatenation in a loop.
  expect_error([&] { Template("{% for i in range(2000) %}x{% endfor %}", "t", small).render(vars); },
               {"t:1:", "output limit (1000 bytes)"});
  expect_error([&] { Template("{{ 'x' * 100000 }}", "t", small).render(vars); }, {"output limit"});
  expect_error([&] { Template("{{ 'x' * 9223372036854775807 }}", "t").render(vars); }, {"output limit"});
  expect_error(
      [&] {
        Template(
            "{% set ns = namespace(s='ab') %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor "
            "%}",
            "t", small)
            .render(vars);
      },
      {"output limit"});
  // Steps: nested loops that would run for hours.
  expect_error(
      [&] {
        Template("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "t",
                 small)
            .render(vars);
      },
      {"step limit (100000)"});
  // Work on long strings counts by the byte; lists that double in a loop hit the size limit; an
  // empty sequence repeated 2**63 times is instant.
  expect_error(
      [&] {
        Template("{% set s = 'x' * 900 %}{% for i in range(100000) %}{% set t = s.upper() %}{% endfor %}",
                 "t", small)
            .render(vars);
      },
      {"step limit"});
  expect_error(
      [&] {
        Template(
            "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
            "t", small)
            .render(vars);
      },
      {"exceeds the template size limit"});
  EXPECT_EQ(Template("[{{ '' * 9223372036854775807 }}{{ [] * 9223372036854775807 }}]", "t").render(vars),
            "[[]]");
  // Depth: unbounded macro recursion, deep expressions, deep nesting of blocks.
  expect_error([&] { Template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "t", small).render(vars); },
               {"nests too deeply"});
  expect_error(
      [&] { Template("{{ " + std::string(200, '(') + "1" + std::string(200, ')') + " }}", "t", small); },
      {"t:1:", "too deeply"});
  std::string sum = "{{ 1";
  for (int i = 0; i < 200; ++i) sum += " + 1";
  expect_error([&] { Template(sum + " }}", "t", small); }, {"too deeply"});
  expect_error(
      [&] {
        std::string s;
        for (int i = 0; i < 100; ++i) s += "{% if true %}";
        Template(s, "t", small);
      },
      {"too deeply"});
  // Values nested through a namespace (a cycle) cannot hang or overflow the stack when printed.
  expect_error(
      [&] { Template("{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns }}", "t").render(vars); },
      {"nests too deeply"});
  expect_error(
      [&] {
        Template(
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l, {'k': ns.l}] %}{% "
            "endfor %}",
            "t", small)
            .render(vars);
      },
      {"a value nests more than 100 levels deep"});
  expect_error([&] { Template("{{ range(100001) | length }}", "t").render(vars); }, {"MAX_RANGE"});
  // With the defaults, a deep but finite recursion is fine.
  EXPECT_EQ(
      Template("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}ok{% endif %}{% endmacro %}{{ f(30) }}",
               "t")
          .render(vars),
      "ok");
}
