"""The compiled runtime is used only when built from the very sources (runtime/native.py).

In-process tests check the decision on made-up builds; subprocess tests import the runtime from
a copy of the package with a copy of the real build (scripts/build_native.py), fresh and stale.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from graphflow.runtime import native

SUFFIX = native.EXT_SUFFIX


def fake_build(root: Path, suffix: str = SUFFIX) -> Path:
    """Sources of the compiled modules under ``root`` and a build dir whose manifest matches."""
    for module in native.MODULES:
        source = native.source_path(module, root)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"NAME = {module!r}\n")
    build_dir = root / "build" / "native"
    modules = {}
    for module in native.MODULES:
        modules[module] = f"lib/{module.replace('.', '/')}{suffix}"
        (build_dir / modules[module]).parent.mkdir(parents=True, exist_ok=True)
        (build_dir / modules[module]).write_bytes(b"")
    (build_dir / "lib" / f"abc__mypyc{suffix}").write_bytes(b"")
    manifest = {"sources_hash": native.sources_hash(root), "modules": modules,
                "support": {"abc__mypyc": f"lib/abc__mypyc{suffix}"}}
    (build_dir / native.MANIFEST).write_text(json.dumps(manifest))
    return build_dir


def test_a_build_of_these_sources_is_taken_with_the_mypyc_support_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    build_dir = fake_build(tmp_path)
    files, reason = native.compiled_modules(build_dir, tmp_path)
    runtime = build_dir / "lib" / "graphflow" / "runtime"
    assert files == {
        "graphflow.packet": build_dir / "lib" / "graphflow" / f"packet{SUFFIX}",
        "graphflow.context": build_dir / "lib" / "graphflow" / f"context{SUFFIX}",
        "graphflow.runtime.node": runtime / f"node{SUFFIX}",
        "graphflow.runtime.scheduler": runtime / f"scheduler{SUFFIX}",
        "graphflow.runtime.executors": runtime / f"executors{SUFFIX}",
        **{f"graphflow.runtime.handlers.{name}": runtime / "handlers" / f"{name}{SUFFIX}"
           for name in ("base", "default", "early_close", "fixed_size", "immediate",
                        "sync_set")},
        "abc__mypyc": build_dir / "lib" / f"abc__mypyc{SUFFIX}",
    }
    assert "built from these sources" in reason


def test_an_edited_source_makes_the_build_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    build_dir = fake_build(tmp_path)
    for module in ("graphflow.runtime.node", "graphflow.runtime.handlers.immediate"):
        source = native.source_path(module, tmp_path)
        text = source.read_text()
        source.write_text(text + "# edited\n")
        files, reason = native.compiled_modules(build_dir, tmp_path)
        assert files is None, module
        assert "stale" in reason
        source.write_text(text)
    assert native.compiled_modules(build_dir, tmp_path)[0] is not None


def test_the_switch_a_missing_build_or_another_python_give_the_python_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)
    assert native.compiled_modules(tmp_path / "none", tmp_path)[0] is None
    other = fake_build(tmp_path / "other", suffix=".cpython-39-x86_64-linux-gnu.so")
    files, reason = native.compiled_modules(other, tmp_path / "other")
    assert files is None
    assert f"was built for Python ?, not this {sys.version.split()[0]}" in reason
    build_dir = fake_build(tmp_path)
    monkeypatch.setenv(native.ENV_SWITCH, "0")
    assert native.compiled_modules(build_dir, tmp_path) == (None, "GRAPHFLOW_NATIVE=0")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the graphflow package with a copy of this checkout's build, when fresh."""
    monkeypatch.delenv(native.ENV_SWITCH, raising=False)  # whether a build is there to copy
    files, reason = native.compiled_modules()
    if files is None:
        pytest.skip(f"no compiled runtime to check: {reason}")
    shutil.copytree(native.PACKAGE_ROOT / "graphflow", tmp_path / "graphflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(native.BUILD_DIR, tmp_path / "build" / "native",
                    ignore=shutil.ignore_patterns("c"))
    for folder in ("graphs", "glsl", "models", "proto"):  # graphflow finds its data beside it
        (tmp_path / folder).symlink_to(native.PACKAGE_ROOT / folder)
    return tmp_path


def imported_runtime(root: Path, **env: str) -> tuple[list[str], str]:
    """The files ``node``, ``scheduler`` and the immediate handler come from in a fresh process,
    and its debug log."""
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
            "import graphflow.runtime.node as n, graphflow.runtime.scheduler as s\n"
            "import graphflow.runtime.handlers.immediate as i\n"
            "print(n.__file__); print(s.__file__); print(i.__file__)\n")
    environment = {key: value for key, value in os.environ.items() if key != native.ENV_SWITCH}
    environment.update(env, PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=environment,
                            capture_output=True, text=True, check=True, timeout=60)
    return result.stdout.split(), result.stderr


def test_a_fresh_build_gives_the_compiled_modules(checkout: Path) -> None:
    files, log = imported_runtime(checkout)
    build_dir = checkout / "build" / "native"
    runtime = build_dir / "lib/graphflow/runtime"
    assert [Path(file).parent for file in files] == [runtime, runtime, runtime / "handlers"]
    assert all(file.endswith(SUFFIX) for file in files)
    assert "compiled graphflow.packet, graphflow.context, graphflow.runtime.node" in log


def test_the_calculator_api_is_compiled_once_and_the_package_exports_it(checkout: Path) -> None:
    """``import graphflow`` routes the calculator API's compiled modules before its first
    import of them: each module exists once, and ``graphflow.Packet`` is the compiled class (a
    module imported before the routing would be loaded again, compiled, by the runtime)."""
    code = ("import graphflow, graphflow.context as c, graphflow.packet as p\n"
            "print(c.__file__); print(p.__file__)\n"
            "print(graphflow.Packet is p.Packet,"
            " graphflow.CalculatorContext is c.CalculatorContext,"
            " graphflow.calculator.CalculatorContext is c.CalculatorContext)\n")
    environment = {key: value for key, value in os.environ.items() if key != native.ENV_SWITCH}
    environment.update(PYTHONPATH=str(checkout))
    result = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=environment,
                            capture_output=True, text=True, check=True, timeout=60)
    context, packet, same = result.stdout.splitlines()
    lib = checkout / "build" / "native" / "lib" / "graphflow"
    assert (Path(context), Path(packet)) == (lib / f"context{SUFFIX}", lib / f"packet{SUFFIX}")
    assert same == "True True True"


def test_an_edit_without_a_rebuild_gives_the_python_modules(checkout: Path) -> None:
    runtime = checkout / "graphflow" / "runtime"
    source = runtime / "handlers" / "immediate.py"
    source.write_text(source.read_text() + "\n# edited after the build\n")
    files, log = imported_runtime(checkout)
    assert files == [str(runtime / "node.py"), str(runtime / "scheduler.py"), str(source)]
    assert "is stale" in log


def test_graphflow_native_0_gives_the_python_modules(checkout: Path) -> None:
    files, log = imported_runtime(checkout, GRAPHFLOW_NATIVE="0")
    runtime = checkout / "graphflow" / "runtime"
    assert files == [str(runtime / "node.py"), str(runtime / "scheduler.py"),
                     str(runtime / "handlers" / "immediate.py")]
    assert f"pure-Python {', '.join(native.MODULES)}: GRAPHFLOW_NATIVE=0" in log


def test_a_python_handler_derived_from_the_compiled_ones_keeps_its_class_flags(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's handler in Python (the runtime compiled or not) that turns ``batchable`` off in
    its class body is asked for every input set: the scheduler does not take single-input
    packets past its select."""
    import graphflow as gf
    from graphflow.runtime.handlers import DefaultInputStreamHandler, base

    selected: list[int] = []

    class Counting(DefaultInputStreamHandler):
        name = "CountingInputStreamHandler"
        batchable = False

        def select(self) -> gf.runtime.node.Task | None:
            task = super().select()
            if task is not None:
                selected.append(int(task.ts))
            return task

    monkeypatch.setitem(base._HANDLERS, Counting.name, Counting)
    graph = gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        output_stream: "out"
        node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out"
               input_stream_handler { input_stream_handler: "CountingInputStreamHandler" } }
    """, synchronous=True)
    out: list[int] = []
    graph.observe_output_stream("out", lambda name, packet: out.append(packet.payload))
    graph.start_run()
    for t in range(3):
        graph.add_packet_to_input_stream("in", gf.Packet(t * 10).at(t))
    graph.close_all_input_streams()
    graph.wait_until_done()
    assert out == [0, 10, 20]
    assert selected == [0, 1, 2]


def build_script() -> Any:
    """scripts/build_native.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location(
        "build_native_under_test", native.PACKAGE_ROOT / "scripts" / "build_native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def finished_build(folder: Path, age: float) -> Path:
    """A build folder with a manifest ``age`` seconds old."""
    folder.mkdir(parents=True)
    (folder / native.MANIFEST).write_text("{}")
    when = time.time() - age
    os.utime(folder / native.MANIFEST, (when, when))
    return folder


def test_a_new_build_is_put_in_place_by_a_link_keeping_the_one_it_replaces(
        tmp_path: Path) -> None:
    script = build_script()
    build_dir = tmp_path / "native"
    legacy = finished_build(build_dir, 300)  # a build from before builds had folders
    (legacy / "lib").mkdir()
    first = finished_build(tmp_path / "native-first", 200)
    script.put_in_place(build_dir, first, native.MANIFEST)
    assert build_dir.is_symlink() and build_dir.resolve() == first
    [moved] = [p for p in tmp_path.glob("native-*") if p != first]
    assert (moved / "lib").is_dir()  # the replaced build stays for processes loading it

    older = finished_build(tmp_path / "native-older", 150)
    running = tmp_path / "native-running"  # a build beside this one, not finished
    running.mkdir()
    second = finished_build(tmp_path / "native-second", 100)
    newer = finished_build(tmp_path / "native-newer", 0)  # finished after `second`, beside it
    script.put_in_place(build_dir, second, native.MANIFEST)
    assert build_dir.resolve() == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "native", "native-first", "native-newer", "native-running", "native-second"]
    assert not older.exists() and newer.exists()


def run_build_script(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != native.ENV_SWITCH}
    environment.update(env)
    return subprocess.run([sys.executable, str(root / "scripts" / "build_native.py")],
                          env=environment, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of the graphflow package, its mypy settings and the build script, no build."""
    shutil.copytree(native.PACKAGE_ROOT / "graphflow", tmp_path / "graphflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(native.PACKAGE_ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "scripts").mkdir()
    shutil.copy(native.PACKAGE_ROOT / "scripts" / "build_native.py", tmp_path / "scripts")
    return tmp_path


def test_without_a_compiler_the_build_script_says_so_and_builds_nothing(sources: Path) -> None:
    result = run_build_script(sources, CC="/nonexistent/cc")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("graphflow: no C compiler (/nonexistent/cc): not compiling the "
                             "runtime; it runs as pure Python\n")
    assert not (sources / "build").exists()


def test_a_failed_build_keeps_the_previous_one_and_is_not_retried_for_the_same_sources(
        sources: Path) -> None:
    if shutil.which("false") is None or build_script().missing_toolchain() is not None:
        pytest.skip("needs the toolchain that compiles the runtime")
    previous = finished_build(sources / "build" / "native", 0)  # stale: its manifest is empty
    result = run_build_script(sources, CC="false")  # mypyc runs; the C compiler fails
    assert result.returncode == 1
    assert "the compiled runtime was not built (mypyc or the C compiler failed" in result.stdout
    assert "'false'" in (sources / "build" / "native.log").read_text()  # mypyc ran, then cc
    assert (sources / "build" / "native.failed").read_text().strip() == \
        native.sources_hash(sources)
    assert sorted(p.name for p in previous.iterdir()) == [native.MANIFEST]
    assert not list((sources / "build").glob("native-*"))  # its own folder is gone
    again = run_build_script(sources, CC="false")
    assert again.returncode == 1
    assert "the last build of these sources failed" in again.stdout
    assert "compiling" not in again.stdout
