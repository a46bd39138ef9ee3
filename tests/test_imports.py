"""The floors of ARCHITECTURE.md, checked on the source: imports run downward, a stage never
imports another stage, and there is no import cycle (imports inside functions count too, since
they run just the same)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
STAGES = ("generate", "curate", "train", "evaluate", "serve", "chat")
# ARCHITECTURE.md's floors, top to bottom; a new top-level module must be placed here.
FLOORS = [("cli", "__main__"), ("pipeline",), STAGES,
          ("teachers", "judging", "prompts", "formats", "models", "report", "verifiable"),
          ("records", "config", "errors", "io", "cache", "textsim", "overlap", "lexicon", "paths", "data", "testing")]
UPWARD_ALLOWED = {("seedtune.cache", "seedtune.teachers.base")}  # the request/completion types it stores


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The seedtune modules `name` imports anywhere in its body (`from pkg import submodule` is the
    submodule, not the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names]
            targets = subs if all(s in modules for s in subs) else [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
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
                    out.append(frozenset(component))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_import_cycles_counting_imports_inside_functions():
    cycles = [sorted(c) for c in _cycles(_graph())]
    assert not cycles, f"import cycles (imports inside functions count): {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]


def test_a_stage_never_imports_another_stage():
    def stage(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in STAGES else None

    crossings = [(m, t) for m, targets in _graph().items() for t in targets
                 if stage(m) and stage(t) and stage(m) != stage(t)]
    assert not crossings, crossings


def test_imports_run_downward_only():
    height = {name: len(FLOORS) - i for i, names in enumerate(FLOORS) for name in names}

    def floor(module: str) -> int | None:
        parts = module.split(".")
        if len(parts) == 1:
            return None  # the package itself
        assert parts[1] in height, f"{module} sits on no floor: add it to FLOORS and ARCHITECTURE.md"
        return height[parts[1]]

    upward = [(m, t) for m, targets in _graph().items() for t in targets
              if floor(m) is not None and floor(t) is not None and floor(t) > floor(m) and (m, t) not in UPWARD_ALLOWED]
    assert not upward, upward


def test_the_pipeline_report_and_the_stages_share_the_run_layout_below_both():
    graph = _graph()
    assert "seedtune.pipeline.stages" not in graph["seedtune.pipeline.report"]
    assert "seedtune.pipeline.layout" in graph["seedtune.pipeline.report"] & graph["seedtune.pipeline.stages"]
