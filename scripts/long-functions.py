#!/usr/bin/env python3
"""Functions of harness/src longer than N lines (default 100), test modules left out.

Usage: scripts/long-functions.py [N] [--all]

A function's length is the lines from its `fn` line to its closing brace, both included
(a nested function counts inside its parent too). Strings, character literals and comments
are skipped when braces are matched, so `format!("{x}")` is not a block. Test modules
(`#[cfg(test)] mod ... { ... }`) are left out: a test may be as long as its story.

Prints the functions above N, longest first (with --all, every function), and exits 1 when
any is above N: a long function is usually a list of special cases waiting to be a table.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "src")


def blank_literals(src):
    """The source with comments, strings and char literals replaced by spaces (newlines
    kept), so that braces and `fn` can be found by position."""
    out = list(src)
    i, n = 0, len(src)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 260]) and not re.match(r"\w", src[i - 1:i] or " "):
            hashes = re.match(r'r(#*)"', src[i:]).group(1)
            end = src.find('"' + hashes, i + len(hashes) + 2)
            j = n if end < 0 else end + 1 + len(hashes)
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:i + 12])
            if m:
                blank(i, i + m.end())
                i += m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def closing(src, open_at):
    """Index of the brace closing the one at `open_at`."""
    depth = 0
    for j in range(open_at, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(src) - 1


def test_spans(src):
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", src):
        spans.append((m.start(), closing(src, m.end() - 1)))
    return spans


def functions(path):
    raw = open(path, encoding="utf-8").read()
    src = blank_literals(raw)
    tests = test_spans(src)
    found = []
    for m in re.finditer(r"\bfn\s+(\w+)", src):
        if any(a <= m.start() <= b for a, b in tests):
            continue
        # The body starts at the first `{` after the signature; a `;` first means a
        # declaration without a body (trait methods).
        k = m.end()
        while k < len(src) and src[k] not in "{;":
            k += 1
        if k >= len(src) or src[k] == ";":
            continue
        end = closing(src, k)
        first = src.count("\n", 0, m.start()) + 1
        last = src.count("\n", 0, end) + 1
        found.append((last - first + 1, os.path.relpath(path, ROOT), first, m.group(1)))
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    limit = int(args[0]) if args else 100
    every = []
    for dirpath, _, files in os.walk(ROOT):
        for f in sorted(files):
            if f.endswith(".rs"):
                every.extend(functions(os.path.join(dirpath, f)))
    every.sort(reverse=True)
    over = [f for f in every if f[0] > limit]
    shown = every if "--all" in sys.argv else over
    for length, path, line, name in shown:
        print(f"{length:5} lines  {path}:{line}  {name}")
    print(f"{len(every)} functions, {len(over)} longer than {limit} lines"
          + (f" (longest: {every[0][0]})" if every else ""))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
