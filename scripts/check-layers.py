#!/usr/bin/env python3
"""The module map, checked: every `crate::X` path between top-level modules of src/
must point down the layers below (declared once, as in ARCHITECTURE.md), the map's
"never" rules hold, no file is over MAX_FILE lines and no function over MAX_FN lines
(tables — statics and consts — are not functions). Test modules (`#[cfg(test)]`
onwards, a `tests` folder, `tests.rs`) are not checked.

usage: scripts/check-layers.py [SRC_DIR]     exit 1 on any violation, listing each."""
import os
import re
import sys

# Lowest first. A module may import modules of its own layer or a lower one; within
# one layer, imports may go either way but must not form a circle.
LAYERS = [
    ("leaves", ["slot", "clock", "net", "glob"]),
    ("wire, config", ["resp", "config"]),
    ("storage, log", ["store", "repl"]),
    ("formats, cluster state, script engine", ["persist", "cluster", "script"]),
    ("node state", ["node"]),
    ("commands", ["commands"]),
    ("server", ["server"]),
    ("drivers", ["services"]),
]
# The map's "never" rules (importer, imported) that the layers alone allow: storage
# never sees bytes or sockets; the cluster's state machines and persist's formats do
# no I/O (the drivers in services/ do).
NEVER = [("store", "resp"), ("store", "net"), ("cluster", "net"), ("persist", "net")]
ENTRY = {"lib", "main"}
MAX_FILE, MAX_FN = 900, 120

LEVEL = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}


def strip_tests(text):
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def imports(body):
    """Top-level module names reached through `crate::` in a file's body."""
    found = set(re.findall(r"crate::([a-z_][a-z0-9_]*)", body))
    for group in re.findall(r"use\s+crate::\{([^;]*)\};", body, re.S):
        depth, start = 0, 0
        for i, ch in enumerate(group + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                m = re.match(r"\s*([a-z_][a-z0-9_]*)", group[start:i])
                if m:
                    found.add(m.group(1))
                start = i + 1
    return found


FN_RE = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def long_functions(lines):
    """(name, first line, length) of every fn body longer than MAX_FN lines."""
    out = []
    for i, line in enumerate(lines):
        m = FN_RE.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = re.sub(r'"(\\.|[^"\\])*"|//.*', "", lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body (trait method)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                if j - i + 1 > MAX_FN:
                    out.append((m.group(2), i + 1, j - i + 1))
                break
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
    problems = []
    tops = {n[:-3] if n.endswith(".rs") else n for n in os.listdir(src)}
    for unknown in sorted(tops - set(LEVEL) - ENTRY):
        problems.append(f"module {unknown} is in no layer: add it to LAYERS")
    edges = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            text = open(path, encoding="utf-8").read()
            lines = text.split("\n")
            if len(lines) - 1 > MAX_FILE:
                problems.append(f"{rel}: {len(lines) - 1} lines (max {MAX_FILE})")
            # Test-only files (a `tests` folder or `tests.rs`) may reach anywhere.
            parts = rel.split(os.sep)
            body = "" if "tests" in parts[:-1] or f == "tests.rs" else strip_tests(text)
            for name, line, n in long_functions(body.split("\n")):
                problems.append(f"{rel}:{line}: fn {name} is {n} lines (max {MAX_FN})")
            me = rel.split(os.sep)[0].removesuffix(".rs")
            if me in ENTRY:
                continue
            for target in imports(body):
                if target == me or target not in LEVEL:
                    continue
                edges.setdefault((me, target), []).append(rel)
    for (a, b), files in sorted(edges.items()):
        where = ", ".join(sorted(set(files)))
        if LEVEL[b] > LEVEL[a]:
            problems.append(f"upward: {a} (layer {LEVEL[a]}) imports {b} (layer {LEVEL[b]}) in {where}")
        if (a, b) in NEVER:
            problems.append(f"never: {a} imports {b} in {where}")
    for a, b in sorted(edges):
        if LEVEL[a] == LEVEL[b] and (b, a) in edges and a < b:
            problems.append(f"circle: {a} and {b} import each other")
    for p in problems:
        print(p)
    print(f"{len(edges)} edges between {len(tops - ENTRY)} modules; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
