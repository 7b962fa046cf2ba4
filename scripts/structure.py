"""Structure facts from the code: package import graph, cycles, depth, sizes, big functions.

Run: `python scripts/structure.py [--root DIR] [--json]`; it reads source only, imports nothing.
"""

import argparse
import ast
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PRODUCT = (
    "router",
    "edge_models",
    "common",
    "central",  # the pre-split name, so older trees can be compared
    "central_client",
    "central_service",
    "hybrid_router_sdk",
)
ALL = (*PRODUCT, "benchmarks")
GENERATED = ("_pb2.py", "_pb2_grpc.py")


@dataclass
class Facts:
    """What the report prints."""

    module_imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lines: dict[str, int] = field(default_factory=dict)
    functions: list[tuple[int, str]] = field(default_factory=list)


def module_name(root: Path, path: Path) -> str:
    """`router/api_v3.py` → `router.api_v3`."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def collect(root: Path) -> Facts:
    """Parse every product and benchmark module under `root`."""
    facts = Facts()
    for package in ALL:
        for path in sorted((root / package).rglob("*.py")):
            if path.name.endswith(GENERATED):
                continue
            name = module_name(root, path)
            source = path.read_text()
            facts.lines[name] = source.count("\n") + 1
            tree = ast.parse(source)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module]
                else:
                    targets = []
                for target in targets:
                    if target.split(".")[0] in ALL:
                        facts.module_imports[name].add(target)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    size = (node.end_lineno or node.lineno) - node.lineno + 1
                    facts.functions.append((size, f"{name}.{node.name}"))
    return facts


def package_graph(facts: Facts) -> dict[str, set[str]]:
    """Package → packages it imports (self-edges dropped)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in facts.module_imports.items():
        for target in targets:
            a, b = source.split(".")[0], target.split(".")[0]
            if a != b:
                graph[a].add(b)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def depth(graph: dict[str, set[str]], start: str) -> int:
    """Longest import chain from `start` (graph must be acyclic)."""
    memo: dict[str, int] = {}

    def longest(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((longest(n) for n in graph.get(node, ())), default=-1)
        return memo[node]

    return longest(start)


def module_graph(facts: Facts) -> dict[str, set[str]]:
    """Module → product modules it imports."""
    known = set(facts.lines)
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in facts.module_imports.items():
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != source:
                graph[source].add(target)
    return graph


def report(root: Path) -> dict[str, object]:
    """All structure facts as one JSON-able dict."""
    facts = collect(root)
    packages = package_graph(facts)
    modules = module_graph(facts)
    module_cycles = cycles(modules)
    product_lines = {m: n for m, n in facts.lines.items() if m.split(".")[0] in PRODUCT}
    router_modules = [m for m in modules if m.startswith("router.")]
    return {
        "package_imports": {k: sorted(v) for k, v in sorted(packages.items())},
        "package_cycles": cycles(packages),
        "module_cycles": module_cycles,
        "router_depth": (
            max(depth(modules, m) for m in router_modules) if not module_cycles else None
        ),
        "modules": len(product_lines),
        "modules_over_300_lines": sorted(m for m, n in product_lines.items() if n > 300),
        "largest_modules": sorted(product_lines.items(), key=lambda kv: -kv[1])[:10],
        "largest_functions": sorted(facts.functions, reverse=True)[:10],
    }


def main() -> int:
    """Print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    facts = report(args.root)
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    for key, value in facts.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
