#!/usr/bin/env python3
"""The import graph of harness/src, and its circles.

Usage: scripts/module-graph.py [--files] [--dot]

Every `use crate::...`, `use super::...` and inline `crate::a::b` path in a file is an edge
from that file's module to the module the path names (the longest prefix that is a module
file). In a `mod.rs`, a path that starts with one of its own children (`use pass::Pass`,
`prepare::prepare(...)`) is an edge to that child too: a parent that calls into a child
which imports the parent is a circle like any other. `mod x;` declarations are not edges: a parent owning a child is not an import.
Test modules (`#[cfg(test)]`) are left out: they may reach anywhere.

Prints the strongly connected components with more than one member, first for top-level
modules (analyze, report, ...), then, with --files, for every file. Exits 1 when any exists.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness", "src")


def module_files():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs") or f == "main.rs":
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            mods[tuple(parts)] = os.path.join(dirpath, f)
    return mods


def strip_tests(src):
    """Drop `#[cfg(test)] mod ... { ... }` blocks and comments."""
    src = re.sub(r"//[^\n]*", "", src)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", src):
        if m.start() < i:
            continue
        out.append(src[i:m.start()])
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        i = j
    out.append(src[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    res = []
    for it in items:
        if it:
            res.extend(prefix + x for x in expand_use(it))
    return res


def edges(mods):
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        with open(path) as fh:
            src = strip_tests(fh.read())
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", src):
            paths.extend(expand_use(m.group(1)))
        paths.extend(re.findall(r"(?<![:\w])((?:crate|super)(?:::\w+)+)", src))
        # the module a file's `super` names: its parent (mod.rs files are their module)
        is_dir_mod = os.path.basename(path) in ("mod.rs", "lib.rs")
        if is_dir_mod:
            paths.extend(p for p in re.findall(r"(?<![:\w])(\w+(?:::\w+)+)", src)
                         if mod + (p.split("::")[0],) in mods)
        for p in paths:
            p = re.sub(r"\s+as\s+\w+$", "", p).split("::")
            if p[0] == "crate":
                base, rest = (), p[1:]
            elif p[0] == "super":
                base = mod[:-1]
                rest = p[1:]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            elif p[0] == "self":
                base, rest = mod if is_dir_mod else mod, p[1:]
            elif is_dir_mod and mod + (p[0],) in mods:
                base, rest = mod, p
            else:
                continue
            target = base
            for seg in rest:
                if target + (seg,) in mods:
                    target = target + (seg,)
                else:
                    break
            if target != mod and target in mods and target != ():
                graph[mod].add(target)
    return graph


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def name(m):
    return "::".join(m) or "crate"


def main():
    mods = module_files()
    files = edges(mods)
    top = {}
    for m, targets in files.items():
        if not m:
            continue
        top.setdefault(m[:1], set()).update(t[:1] for t in targets if t[:1] != m[:1])
    if "--dot" in sys.argv:
        print("digraph modules {")
        for m, ts in sorted(top.items()):
            for t in sorted(ts):
                print(f'  "{name(m)}" -> "{name(t)}";')
        print("}")
        return 0
    bad = 0
    for label, graph in (("top-level modules", top), ("files", files)):
        if label == "files" and "--files" not in sys.argv and bad:
            continue
        comps = sccs(graph)
        print(f"{label}: {len(graph)} nodes, {sum(len(v) for v in graph.values())} edges, "
              f"{len(comps)} circle(s)")
        for c in comps:
            members = sorted(name(m) for m in c)
            print("  circle: " + ", ".join(members))
            for m in sorted(c):
                inside = sorted(name(t) for t in graph[m] if t in c)
                print(f"    {name(m)} -> {', '.join(inside)}")
        bad += len(comps)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
