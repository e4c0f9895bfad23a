#!/usr/bin/python3
"""The oracle for r1's Jinja interpreter: renders templates with Python's jinja2 in the
environment Hugging Face transformers uses for chat templates (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loop controls, the generation tag, tojson as
json.dumps(ensure_ascii=False), raise_exception and strftime_now globals).

Usage: render_jinja2.py IN.json OUT.json
IN.json holds {"items": [ITEM, ...]}; each ITEM is either
  {"template": SOURCE, "vars": {...}}             rendered with exactly those variables, or
  {"config": PATH, "messages": [...], "tools": [...] (optional), "add_generation_prompt": BOOL,
   "extra": {...}}                                the chat template of a tokenizer_config.json,
                                                  with the context transformers builds.
OUT.json receives one result per item: {"ok": TEXT} or {"error": "Type: message"}.
Exits 77 (CTest's skip code) when jinja2 is not installed.
"""
import json
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    print("render_jinja2.py: python3-jinja2 is not installed", file=sys.stderr)
    sys.exit(77)


class Generation(Extension):
    """transformers' AssistantTracker tag without the token-mask bookkeeping: renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
ENV.globals["strftime_now"] = strftime_now

SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
                  "additional_special_tokens"]


def content(token):
    return token.get("content") if isinstance(token, dict) else token


def special_tokens_map(config):
    """transformers' special_tokens_map: the special tokens that are set, as strings."""
    out = {}
    for key in SPECIAL_TOKENS:
        value = config.get(key)
        if isinstance(value, list):
            value = [content(t) for t in value]
        else:
            value = content(value)
        if value:
            out[key] = value
    return out


def chat_template(config):
    t = config["chat_template"]
    if isinstance(t, list):
        t = {entry["name"]: entry["template"] for entry in t}["default"]
    return t


def render(item):
    if "template" in item:
        return ENV.from_string(item["template"]).render(**item["vars"])
    with open(item["config"], encoding="utf-8") as f:
        config = json.load(f)
    context = {
        "messages": item["messages"],
        "tools": item.get("tools"),
        "documents": None,
        "add_generation_prompt": item.get("add_generation_prompt", False),
    }
    context.update(special_tokens_map(config))
    context.update(item.get("extra", {}))
    return ENV.from_string(chat_template(config)).render(**context)


def run_items(fn, in_path, out_path):
    """{"items": [...]} from in_path; one {"ok": fn(item)} or {"error": "Type: message"} per item
    to out_path (the tests only need to know that Python failed too)."""
    with open(in_path, encoding="utf-8") as f:
        items = json.load(f)["items"]
    results = []
    for item in items:
        try:
            results.append({"ok": fn(item)})
        except Exception as e:
            results.append({"error": f"{type(e).__name__}: {e}"})
    with open(out_path, "w", encoding="utf-8", errors="surrogatepass") as f:
        json.dump(results, f, ensure_ascii=False)


def main():
    run_items(render, sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
