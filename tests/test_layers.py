"""The layers import only downward, no module imports form a cycle, and the engine stays light.

See docs/architecture.md: engine -> GPU -> calculators -> application.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("graphflow", "calculators")

# Each layer and the names (first-party prefixes and third-party top-level modules) it must not
# import, at module level or inside functions.
_UPPER = ("graphflow.gpu", "graphflow.app", "graphflow.solutions", "graphflow.tflite_onnx",
          "calculators")
_HEAVY = ("cv2", "onnxruntime", "onnx", "tflite", "moderngl", "glfw", "aiohttp", "lark", "rich",
          "ray", "pyvirtualcam", "simplejpeg", "av")
FORBIDDEN = {
    "engine": _UPPER + _HEAVY,
    "graphflow.gpu": ("graphflow.app", "graphflow.solutions", "graphflow.tflite_onnx",
                      "calculators"),
    "graphflow.tflite_onnx": ("graphflow.gpu", "graphflow.app", "graphflow.solutions",
                              "calculators"),
    "calculators": ("graphflow.app", "graphflow.solutions"),
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
            if "proto/mediapipe" not in p.as_posix()}


def _layer(module: str) -> str:
    for layer in ("graphflow.gpu", "graphflow.tflite_onnx", "graphflow.app",
                  "graphflow.solutions"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return "calculators" if module.split(".")[0] == "calculators" else "engine"


def _imports(path: pathlib.Path, module: str, *, module_level: bool) -> set[str]:
    """The modules ``path`` imports (``from a.b import c`` counts as a.b, and a.b.c if a module).

    With ``module_level``, only imports that run when the module is imported: not those in
    functions or under ``if TYPE_CHECKING:``.
    """
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if not module_level:
                    visit(child, False)
                continue
            if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                    and child.test.id == "TYPE_CHECKING"):
                if not module_level:
                    visit(child, top)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module.split(".")
                    if path.name != "__init__.py":
                        package.pop()
                    package = package[:len(package) - child.level + 1]
                    base = ".".join(package + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child, top)

    visit(tree, True)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downward(layer: str) -> None:
    wrong = []
    for module, path in sorted(_sources().items()):
        # The package's front door re-exports GPU names lazily (gf.GlSimpleCalculator loads
        # graphflow.gpu on first use); the engine's modules themselves never name it.
        if _layer(module) != layer or module == "graphflow":
            continue
        for name in sorted(_imports(path, module, module_level=False)):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    sources = _sources()
    # A module's own packages are initialized before it (``from pkg import sibling`` in
    # pkg.module does not run pkg/__init__.py again), so they are not edges.
    graph = {module: {name for name in _imports(path, module, module_level=True)
                      if name in sources and not (module + ".").startswith(name + ".")}
             for module, path in sources.items()}
    assert _cycles(graph) == []


def test_a_one_node_graph_loads_only_the_engine() -> None:
    script = """
import sys
import graphflow as gf
graph = gf.CalculatorGraph(graph_config='input_stream: "in" output_stream: "out" '
    'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }')
out = []
graph.observe_output_stream("out", lambda name, packet: out.append(packet.payload))
graph.start_run()
graph.add_packet_to_input_stream("in", gf.Packet(7).at(0))
graph.close_all_input_streams()
graph.wait_until_done()
assert out == [7], out
print("\\n".join(sorted(sys.modules)))
"""
    loaded = set(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                text=True, cwd=ROOT, timeout=60).stdout.split())
    assert "calculators.core.flow" in loaded  # the check sees what the graph imported
    heavy = sorted(m for m in loaded if m.split(".")[0] in _HEAVY
                   or m.startswith(("calculators.eymo", "calculators.tensor", "graphflow.gpu",
                                    "graphflow.app", "graphflow.tflite_onnx")))
    assert heavy == []
