"""Compile the runtime's per-task path with mypyc into build/native/, where graphflow finds it.

Usage: ``python scripts/build_native.py [--force]`` (``make setup`` runs it).

The modules of ``graphflow.runtime.native.MODULES`` are compiled as they are, apart from
their sources: the extension files and a manifest with the SHA-256 of the exact sources
compiled go to ``build/native/`` (git-ignored), which ``graphflow/runtime/__init__.py`` uses
only while that hash equals the sources' (so an edit without a rebuild runs as Python).

Idempotent: nothing is built while the build matches the sources. Where there is no C compiler
or no Python headers it says so in one line and exits 0: graphflow runs as pure Python. A
failed build leaves the previous state, writes its output to ``build/native.log`` and the
sources' hash to ``build/native.failed``, says so in one line and exits 1; it is not tried
again for the same sources without ``--force`` (``make setup`` would otherwise spend 20 s on
it every time).

Each build compiles in a folder of its own (``build/native-*``), so builds started at once do
not remove each other's files, and ``build/native`` is a symbolic link to the current one,
swapped in one rename: a process starting meanwhile sees the old build or the new one, whole
(``native.compiled_modules`` resolves the link once). The build before the current one is kept
for processes that were loading it; older ones are removed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_native() -> ModuleType:
    """``graphflow.runtime.native`` loaded by its path, without importing the runtime."""
    spec = importlib.util.spec_from_file_location(
        "graphflow_native_build", ROOT / "graphflow" / "runtime" / "native.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_toolchain() -> str | None:
    """What is missing to compile C extensions for this interpreter, or None."""
    # $CC first, as setuptools compiles with it
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        return f"no Python headers ({include / 'Python.h'})"
    try:
        import mypyc  # noqa: F401  (only whether it is installed)
    except ImportError:
        return "no mypyc (the dev extra's mypy brings it)"
    return None


def compile_into(work: Path, modules: tuple[str, ...]) -> None:
    """Run mypyc and the C compiler: extension files under ``work/lib`` (in a child process).

    Args:
        work: An empty folder for the generated C (``c/``), objects (``temp/``) and the
            extension files (``lib/``).
        modules: The dotted names to compile, from the repository root.
    """
    from mypyc.build import mypycify
    from setuptools import Distribution

    os.chdir(ROOT)  # mypy names the modules by their paths from here
    paths = [str(Path(*module.split(".")).with_suffix(".py")) for module in modules]
    extensions = mypycify(paths, target_dir=str(work / "c"))
    distribution = Distribution({"name": "graphflow-native", "ext_modules": extensions})
    command = distribution.get_command_obj("build_ext")
    command.build_lib = str(work / "lib")  # type: ignore[attr-defined]
    command.build_temp = str(work / "temp")  # type: ignore[attr-defined]
    command.parallel = os.cpu_count() or 1  # type: ignore[attr-defined]
    distribution.run_command("build_ext")


def build(native: ModuleType, log: Path) -> str | None:
    """Build into a fresh folder and put it in place; None when done, else what failed."""
    build_dir: Path = native.BUILD_DIR
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="native-", dir=build_dir.parent))
    work.chmod(0o755)  # (mkdtemp makes it private)
    before = native.sources_hash()
    with log.open("w") as output:
        result = subprocess.run(
            [sys.executable, __file__, "--compile-into", str(work)],
            stdout=output, stderr=subprocess.STDOUT, check=False,
        )
    if result.returncode != 0:
        shutil.rmtree(work)
        return f"mypyc or the C compiler failed (exit {result.returncode}); see {log}"
    if native.sources_hash() != before:
        shutil.rmtree(work)
        return "the sources changed during the build; run it again"
    lib = work / "lib"
    suffix = native.EXT_SUFFIX
    modules = {name: Path("lib", *name.split(".")).with_suffix(suffix) for name in native.MODULES}
    # mypyc puts the compiled code in one shared top-level module that the per-module shims
    # import by name; the finder routes that name too.
    support = {path.name.removesuffix(suffix): path.relative_to(work)
               for path in lib.glob(f"*__mypyc{suffix}")}
    for path in [*modules.values(), *support.values()]:
        if not (work / path).is_file():
            shutil.rmtree(work)
            return f"the build made no {path}; see {log}"
    manifest = {
        "sources_hash": before,
        "python": sys.version.split()[0],
        "modules": {name: str(path) for name, path in modules.items()},
        "support": {name: str(path) for name, path in support.items()},
    }
    shutil.rmtree(work / "temp")  # objects: only the extension files and the C are kept
    (work / native.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    put_in_place(build_dir, work, native.MANIFEST)
    return None


def put_in_place(build_dir: Path, new: Path, manifest: str) -> None:
    """Point the ``build_dir`` link at the finished build ``new`` in one rename, keep the build
    it replaces, and remove the finished builds older than ``new`` (a build that ends after
    this one, beside it, is newer: it stays)."""
    previous = build_dir.resolve() if build_dir.is_symlink() else None
    if previous is None and build_dir.is_dir():  # made before builds had folders of their own
        previous = Path(tempfile.mkdtemp(prefix="native-", dir=build_dir.parent))
        previous.rmdir()
        build_dir.rename(previous)
    link = build_dir.with_name(f"{build_dir.name}.{os.getpid()}.link")
    link.unlink(missing_ok=True)
    link.symlink_to(new.name)
    os.replace(link, build_dir)
    made = (new / manifest).stat().st_mtime
    for old in build_dir.parent.glob("native-*"):
        if old not in (new, previous) and (old / manifest).is_file() and \
                (old / manifest).stat().st_mtime <= made:
            shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    """Build when needed; the exit status and one line say what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    parser.add_argument("--compile-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    native = load_native()
    if args.compile_into is not None:
        compile_into(args.compile_into, native.MODULES)
        return 0
    os.environ.pop(native.ENV_SWITCH, None)  # asks whether the build matches, not the switch
    files, _ = native.compiled_modules()
    if files is not None and not args.force:
        return 0
    missing = missing_toolchain()
    if missing is not None:
        print(f"graphflow: {missing}: not compiling the runtime; it runs as pure Python")
        return 0
    log = native.BUILD_DIR.with_name("native.log")
    failed = native.BUILD_DIR.with_name("native.failed")  # the sources' hash of a failed build
    sources = native.sources_hash()
    if not args.force and failed.is_file() and failed.read_text().strip() == sources:
        print(f"graphflow: the last build of these sources failed (see {log}); not trying "
              "again (--force does); graphflow runs as pure Python")
        return 1
    print("graphflow: compiling the runtime with mypyc (about 20 s, once per change)...",
          flush=True)
    started = time.monotonic()
    failure = build(native, log)
    if failure is not None:
        failed.write_text(sources + "\n")
        print(f"graphflow: the compiled runtime was not built ({failure}); "
              "graphflow runs as pure Python")
        return 1
    failed.unlink(missing_ok=True)
    print(f"graphflow: compiled {', '.join(native.MODULES)} into {native.BUILD_DIR} "
          f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
