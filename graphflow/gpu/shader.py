"""Shader sources from glsl/, with ``#include``, and compile errors that name file and line.

``#include "name.glsl"`` (or ``<name.glsl>``) is resolved relative to the including file, then
in the search directories (the repository's ``glsl/`` last); each file is included once per
shader. The expanded text keeps a map from its lines back to (file, line), so a driver's
``0:12(5): error: ...`` becomes ``glsl/lib/color.glsl:3: error: ...``.

Example:
    program = compile_program(ctx, load_shader("fullscreen.vert"), load_shader("invert.frag"))
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Sequence

import moderngl

from graphflow.gpu.errors import ShaderError
from graphflow.resources import resource_dir

#: The shader directory shipped with graphflow (the checkout's ``glsl/``, or the wheel's copy).
GLSL_DIR = resource_dir("glsl")

_INCLUDE = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<([^>]+)>)\s*(?://.*)?$')
# Driver message line references: Mesa "0:12(5):", NVIDIA "0(12) :", ANGLE/others "ERROR: 0:12:".
_LINE_REFS = (
    re.compile(r"^(?P<pre>\s*)\d+:(?P<line>\d+)\((?P<col>\d+)\):\s*(?P<msg>.*)$"),
    re.compile(r"^(?P<pre>\s*)\d+\((?P<line>\d+)\)\s*:\s*(?P<msg>.*)$"),
    re.compile(r"^(?P<pre>\s*(?:ERROR|WARNING):\s*)\d+:(?P<line>\d+):\s*(?P<msg>.*)$"),
)


@dataclasses.dataclass(frozen=True)
class ShaderSource:
    """An expanded shader: its text and, for each line, the (file, line) it came from.

    Attributes:
        name: The main file's display name (``glsl/invert.frag`` or ``<string>``).
        text: The source with includes expanded.
        origins: ``origins[i]`` is the (file, 1-based line) of line ``i + 1`` of ``text``.
    """

    name: str
    text: str
    origins: tuple[tuple[str, int], ...]

    def origin(self, line: int) -> tuple[str, int]:
        """The (file, line) of line ``line`` (1-based) of the expanded text."""
        if 1 <= line <= len(self.origins):
            return self.origins[line - 1]
        return self.name, line


def _display(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def _search_path(dirs: Sequence[str | os.PathLike[str]]) -> list[pathlib.Path]:
    return [pathlib.Path(d) for d in dirs] + [GLSL_DIR]


def _find(name: str, first: pathlib.Path | None, dirs: list[pathlib.Path]) -> pathlib.Path | None:
    # An absolute name stays itself when joined to a folder.
    candidates = ([first / name] if first is not None else []) + [d / name for d in dirs]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _expand(
    text: str,
    name: str,
    base: pathlib.Path | None,
    dirs: list[pathlib.Path],
    seen: set[pathlib.Path],
    lines: list[str],
    origins: list[tuple[str, int]],
) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        match = _INCLUDE.match(line)
        if match is None:
            lines.append(line)
            origins.append((name, number))
            continue
        target = match.group(1) or match.group(2)
        path = _find(target, base, dirs)
        if path is None:
            searched = ", ".join(_display(d) for d in ([base] if base else []) + dirs)
            raise ShaderError(f"{name}:{number}: cannot find include {target!r} (searched "
                              f"{searched})")
        if path in seen:
            continue
        seen.add(path)
        _expand(path.read_text(), _display(path), path.parent, dirs, seen, lines, origins)


def load_shader(name: str, dirs: Sequence[str | os.PathLike[str]] = ()) -> ShaderSource:
    """Loads a shader file and expands its includes.

    Args:
        name: A path relative to one of ``dirs`` or to graphflow's ``glsl/``, or absolute.
        dirs: Directories searched before ``glsl/`` (e.g. a user calculator's own folder).

    Raises:
        ShaderError: If the file or an include is missing.
    """
    search = _search_path(dirs)
    path = _find(name, None, search)
    if path is None:
        raise ShaderError(
            f"shader {name!r} not found in {', '.join(_display(d) for d in search)}"
        )
    return _source(path.read_text(), _display(path), path.parent, search, {path})


def shader_from_string(
    text: str, name: str = "<string>", dirs: Sequence[str | os.PathLike[str]] = ()
) -> ShaderSource:
    """A shader given as text (its includes resolved in ``dirs`` and ``glsl/``)."""
    return _source(text, name, None, _search_path(dirs), set())


def _source(
    text: str,
    name: str,
    base: pathlib.Path | None,
    dirs: list[pathlib.Path],
    seen: set[pathlib.Path],
) -> ShaderSource:
    lines: list[str] = []
    origins: list[tuple[str, int]] = []
    _expand(text, name, base, dirs, seen, lines, origins)
    return ShaderSource(name, "\n".join(lines) + "\n", tuple(origins))


def map_log(log: str, source: ShaderSource) -> list[str]:
    """Rewrites a driver's compile log so that each error starts with ``file:line:``."""
    result = []
    for raw in log.splitlines():
        for pattern in _LINE_REFS:
            match = pattern.match(raw)
            if match:
                file, line = source.origin(int(match.group("line")))
                col = match.groupdict().get("col")
                where = f"{file}:{line}:{col}" if col else f"{file}:{line}"
                result.append(f"{where}: {match.group('msg')}")
                break
        else:
            if raw.strip():
                result.append(raw.strip())
    return result


def compile_program(
    ctx: moderngl.Context, vertex: ShaderSource, fragment: ShaderSource
) -> moderngl.Program:
    """Compiles and links a program; errors name the shader file and its true line.

    Raises:
        ShaderError: On a compile or link error.
    """
    try:
        return ctx.program(vertex_shader=vertex.text, fragment_shader=fragment.text)
    except moderngl.Error as e:
        raise ShaderError(_describe(str(e), vertex, fragment)) from None


def _describe(message: str, vertex: ShaderSource, fragment: ShaderSource) -> str:
    sections = re.split(r"^(vertex_shader|fragment_shader|Program)\n=+\n", message, flags=re.M)
    if len(sections) < 3:
        return f"shader program ({vertex.name}, {fragment.name}) failed: {message.strip()}"
    lines: list[str] = []
    for stage, log in zip(sections[1::2], sections[2::2], strict=True):
        if stage == "Program":
            lines.append(f"linking {vertex.name} with {fragment.name} failed:")
            lines.extend("  " + line.strip() for line in log.splitlines() if line.strip())
        else:
            source = vertex if stage == "vertex_shader" else fragment
            lines.extend(map_log(log, source))
    return "\n".join(lines)
