"""A griffe extension for the API reference: trainlab's docstrings say `Example:` (one example) or
put doctest lines (`>>> ...`) straight in the text; Google style, as griffe reads it, knows only
`Examples:`. Both become an Examples section, so the doctests render as code, not as markdown.
"""
from __future__ import annotations

import re

import griffe


def as_examples(text: str) -> str:
    text = re.sub(r"^(\s*)Example:\s*$", r"\1Examples:", text, flags=re.M)
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):  # a block of doctest lines at the margin, after a blank line: an Examples section
        if lines[i].startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            out.append("Examples:")
            while i < len(lines) and lines[i].strip():
                out.append("    " + lines[i])
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_examples(obj.docstring.value)
