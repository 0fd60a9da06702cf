#!/usr/bin/env python3
"""Reports import cycles between the modules of each crate.

A module is a file under `src/` (a folder's `mod.rs` is the folder). A module depends on another
when it names it through `crate::` (in a `use` or a path), or through `super::` from a child.
Test modules (`*tests*.rs`, `tests/`) and a module's dependencies on its own children or
ancestors are left out: a parent re-exporting its children is not a cycle. Exit status 1 when a
cycle exists, with each cycle printed.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def is_test(module):
    return any("tests" in part or part == "test_support" for part in module)


def resolve(modules, parts):
    """The longest known module prefix of a `crate::` path."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return tuple(parts[:n])
    return None


def strip_comments(text):
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def crate_graph(src):
    files = {}
    for dirpath, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                files[module_of(src, path)] = path
    modules = set(files)
    graph = {m: set() for m in modules if not is_test(m)}
    for module, path in files.items():
        if is_test(module):
            continue
        text = strip_comments(open(path).read())
        # Drop `#[cfg(test)] mod tests { ... }` bodies: from the attribute to the end of file
        # when the module is inline (tests sit at the end by convention).
        cut = re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)
        if cut:
            text = text[: cut.start()]
        targets = []
        for group in re.finditer(r"crate::([\w:]+)(?:::\{([^}]*)\})?", text):
            base = group.group(1).split("::")
            targets.append(base)
            if group.group(2):
                for item in group.group(2).split(","):
                    targets.append(base + item.strip().split("::"))
        for group in re.finditer(r"\bsuper::([\w:]+)", text):
            targets.append(list(module[:-1]) + group.group(1).split("::"))
        for parts in targets:
            target = resolve(modules, [p for p in parts if p and p != "self"])
            if target is None or is_test(target) or target == module:
                continue
            if target[: len(module)] == module or module[: len(target)] == target:
                continue
            graph[module].add(target)
    return graph


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    bad = False
    for crate in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        for component in cycles(crate_graph(src)):
            bad = True
            names = ", ".join("::".join(m) or "<root>" for m in component)
            print(f"{crate}: import cycle between {names}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
