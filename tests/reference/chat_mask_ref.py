#!/usr/bin/python3
"""The reference for r1 sft's assistant-only mask: a conversation's training sequences as text
pieces, built from Python jinja2 renderings (configured as transformers configures it, see
tests/tokenizer/render_jinja2.py) of the conversation's prefixes.

Usage: chat_mask_ref.py IN.json OUT.json
IN.json holds {"items": [ITEM, ...]}, each ITEM {"config": tokenizer_config.json, "messages": [...],
"tools": [...] (optional), "end_of_turn": ["<|im_end|>", ...]}.
OUT.json receives one result per item: {"ok": [[[TEXT, TRAINED], ...], ...]} (sequences of pieces)
or {"error": "..."}.

The rule, written from the definition rather than from r1's code:
  prompt(a) = render(messages[:a], add_generation_prompt=True)  what the model sees before answer a
  answer(a) = render(messages[:a+1])[len(prompt(a)):], through its last end-of-turn string
              (else through its last non-blank character)
Every assistant turn is trained exactly once, in a sequence whose text before the turn is exactly
prompt(a) and whose text at the turn is answer(a). Sequences are renderings of the conversation up
to an assistant turn, the latest unplaced turn first, so that a template that renders every turn
the same way gives one sequence; the text after a sequence's last answer is dropped.
Exits 77 (CTest's skip code) when jinja2 is not installed.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tokenizer"))
import render_jinja2  # noqa: E402  (exits 77 itself when jinja2 is missing)


def make_renderer(config_path, tools):
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    source = render_jinja2.chat_template(config)
    template = render_jinja2.ENV.from_string(source)

    def render(messages, add_generation_prompt):
        context = {"messages": messages, "tools": tools, "documents": None,
                   "add_generation_prompt": add_generation_prompt}
        context.update(render_jinja2.special_tokens_map(config))
        return template.render(**context)

    return render, source


def prepare(messages, source):
    """TRL-style rows: reasoning_content stays for templates that render it, else becomes <think>."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("content") is None:
            m["content"] = ""
        if m.get("reasoning_content") is not None and "reasoning_content" not in source:
            m["content"] = "<think>\n" + m.pop("reasoning_content") + "\n</think>\n\n" + m["content"]
        out.append(m)
    return out


def trained_part(answer, end_of_turn):
    ends = [answer.rfind(e) + len(e) for e in end_of_turn if e and e in answer]
    return answer[:max(ends)] if ends else answer.rstrip(" \n\t\r\f\v")


def sequences(item):
    render, source = make_renderer(item["config"], item.get("tools"))
    messages = prepare(item["messages"], source)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    prompt, answer = {}, {}
    for a in turns:
        prompt[a] = render(messages[:a], True)
        full = render(messages[:a + 1], False)
        assert full.startswith(prompt[a]), "the answer does not start with the generation prompt"
        answer[a] = trained_part(full[len(prompt[a]):], item["end_of_turn"])
    out = []
    while turns:
        text = render(messages[:turns[-1] + 1], False)
        placed, pieces, pos = [], [], 0
        for a in turns:
            start = len(prompt[a])
            if start >= pos and text.startswith(prompt[a]) and text[start:].startswith(answer[a]):
                if start > pos:
                    pieces.append([text[pos:start], False])
                pieces.append([answer[a], True])
                pos = start + len(answer[a])
                placed.append(a)
        turns = [a for a in turns if a not in placed]
        out.insert(0, pieces)
    return out


def main():
    render_jinja2.run_items(sequences, sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
