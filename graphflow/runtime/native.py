"""The runtime's optional compiled modules: which to use, and the import hook that loads them.

``scripts/build_native.py`` compiles :data:`MODULES` with mypyc into :data:`BUILD_DIR`
(``build/native`` of the checkout, git-ignored: a link to the current build's folder), apart
from the sources, and writes a manifest there with the SHA-256 of the exact sources it
compiled. :func:`install` (called by ``graphflow/runtime/__init__.py`` before anything imports
these modules) compares that hash with the sources' hash now and puts a finder for exactly
those module names first on ``sys.meta_path`` only when they are equal; otherwise the ``.py``
files are imported as always.
So an edited source without a rebuild runs as Python, never as a stale build, and a machine
without a compiler runs as Python. ``GRAPHFLOW_NATIVE=0`` forces the Python modules (to step
through them with pdb; docs/architecture.md). A debug log line says which were taken and why.

This module imports nothing from graphflow: the build script loads it by its path, without
importing the runtime it is about to rebuild.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``graphflow`` package (the checkout, in an editable install)."""
BUILD_DIR = PACKAGE_ROOT / "build" / "native"
MANIFEST = "manifest.json"
MODULES = (
    "graphflow.packet",
    "graphflow.context",
    "graphflow.runtime.node",
    "graphflow.runtime.scheduler",
    "graphflow.runtime.executors",
    "graphflow.runtime.handlers.base",
    "graphflow.runtime.handlers.default",
    "graphflow.runtime.handlers.early_close",
    "graphflow.runtime.handlers.fixed_size",
    "graphflow.runtime.handlers.immediate",
    "graphflow.runtime.handlers.sync_set",
)
"""The modules compiled: the calculator API's per-call part (packets, the context a calculator
reads its inputs from and adds its outputs to; not ``graphflow.calculator``, whose base class
users subclass), the per-task path, with the input stream handlers (registered by a call after
each class, not a class decorator, which would make them non-extension classes)."""
ENV_SWITCH = "GRAPHFLOW_NATIVE"
EXT_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
"""The suffix of this interpreter's extension files: mypyc builds for one interpreter (not the
stable ABI), so the build names its files with it and only files with it are loaded."""


def source_path(module: str, root: Path = PACKAGE_ROOT) -> Path:
    """The ``.py`` file of a dotted module name under ``root``."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def sources_hash(root: Path = PACKAGE_ROOT) -> str:
    """The SHA-256 of the sources a build depends on (paths and bytes), as the build records it.

    Not only the compiled modules: mypyc compiles them against the types of what they import
    (checks and unboxing from annotations, `Final` constants copied in), so a changed
    annotation in graphflow/calculator.py, say, makes a build stale too. All of graphflow's
    top-level modules and of graphflow/runtime/ count (about 1 ms at import).
    """
    package = root / "graphflow"
    digest = hashlib.sha256()
    for path in sorted({*package.glob("*.py"), *(package / "runtime").rglob("*.py")}):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def compiled_modules(
    build_dir: Path = BUILD_DIR, root: Path = PACKAGE_ROOT
) -> tuple[dict[str, Path] | None, str]:
    """Which extension files to load for which module names, or None, and why.

    Args:
        build_dir: Where ``scripts/build_native.py`` put the build and its manifest.
        root: The folder holding the ``graphflow`` sources the build must match.

    Returns:
        ``({module name: extension file}, reason)`` when the build matches the sources and this
        interpreter; ``(None, reason)`` when the Python modules are to be used.
    """
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None, f"{ENV_SWITCH}=0"
    # build/native is a link that a rebuild swaps: every file comes from the build it names now.
    build_dir = build_dir.resolve()
    manifest_path = build_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        return None, f"no build at {build_dir} (scripts/build_native.py makes one)"
    except (OSError, ValueError) as error:
        return None, f"unreadable {manifest_path}: {error}"
    built_hash = manifest.get("sources_hash")
    current_hash = sources_hash(root)
    if set(manifest.get("modules", {})) != set(MODULES):
        return None, (f"the build in {build_dir} has the modules "
                      f"{sorted(manifest.get('modules', {}))}, not {list(MODULES)}; "
                      "run scripts/build_native.py")
    if built_hash != current_hash:
        return None, (
            f"the build in {build_dir} is stale: sources changed since it was built "
            f"(hash {str(built_hash)[:12]}, sources now {current_hash[:12]}); "
            "run scripts/build_native.py"
        )
    files = {name: build_dir / file for name, file in manifest["modules"].items()}
    files.update({name: build_dir / file for name, file in manifest.get("support", {}).items()})
    for path in files.values():
        if not path.name.endswith(EXT_SUFFIX):
            return None, (f"{path.name} was built for Python {manifest.get('python', '?')}, "
                          f"not this {sys.version.split()[0]} (extension files {EXT_SUFFIX})")
        if not path.is_file():
            return None, f"{path} of the build is missing"
    return files, f"built from these sources (hash {current_hash[:12]}) in {build_dir}"


class _NativeFinder:
    """A meta-path finder for exactly the compiled modules (and mypyc's shared library)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """A spec loading the extension file for one of the compiled names; None otherwise."""
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


CHOICE = "not decided: install() has not run"
"""Which modules this process took and why, for :func:`log_choice`."""


def install() -> bool:
    """Route the compiled names to the build when it matches the sources; True when it does.

    Called once, before the modules are imported; a second call changes nothing.
    """
    global CHOICE
    if any(isinstance(finder, _NativeFinder) for finder in sys.meta_path):
        return True
    files, reason = compiled_modules()
    kind = "pure-Python" if files is None else "compiled"
    CHOICE = f"graphflow.runtime: {kind} {', '.join(MODULES)}: {reason}"
    if files is not None:
        sys.meta_path.insert(0, _NativeFinder(files))
    log_choice()
    return files is not None


def log_choice() -> None:
    """Log which modules this process took at debug level (again, once logging is set up)."""
    logger.debug("%s", CHOICE)
