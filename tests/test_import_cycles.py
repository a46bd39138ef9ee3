"""Imports run one way: no module of seedtune imports, even inside a function, a module that
imports it back. A function-level import hides a cycle from Python's import machinery, not from a
reader: the two modules can no longer be understood (or moved to another floor) one at a time."""

from __future__ import annotations

import ast
from pathlib import Path

import seedtune

ROOT = Path(seedtune.__file__).parent

# Cycles that remain while issue 14 is being worked on, each in code another change owns; none may
# be added. A cycle that is gone can be deleted from this list.
KNOWN = {
    frozenset({"seedtune.models", "seedtune.models.info", "seedtune.models.loading", "seedtune.models.store"}),
    frozenset({"seedtune.train", "seedtune.train.dpo", "seedtune.train.sft"}),
    frozenset({"seedtune.curate", "seedtune.curate.catalog", "seedtune.curate.run"}),
    frozenset({"seedtune.serve", "seedtune.serve.app", "seedtune.serve.server"}),
    frozenset({"seedtune.evaluate.instructions", "seedtune.evaluate.suites"}),
}


def _graph() -> dict[str, set[str]]:
    """Module -> the seedtune modules it imports anywhere in its text (a package counts as imported
    when a name is taken from it, since its __init__ runs)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {m for m in [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if m in modules}
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_new_import_cycle():
    new = [sorted(c) for c in _cycles(_graph()) if c not in KNOWN]
    assert not new, f"import cycles (imports inside functions count): {new}"


def test_the_pipeline_report_and_the_stages_share_the_run_layout_below_both():
    graph = _graph()
    assert "seedtune.pipeline.stages" not in graph["seedtune.pipeline.report"]
    assert "seedtune.pipeline.layout" in graph["seedtune.pipeline.report"] & graph["seedtune.pipeline.stages"]
