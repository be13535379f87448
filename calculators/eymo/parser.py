"""Parse eymo scripts (grammar: eymo.lark) into `Program` trees, with friendly errors.

Every mistake raises `ParseError` with the file, line and column, what was wrong, what
was expected and, for misspelt names, a did-you-mean.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, cast, get_args

import lark

from calculators.eymo import program as ast
from calculators.eymo.parts import PARTS

FLIP_MODES: tuple[ast.FlipMode, ...] = get_args(ast.FlipMode)
DEFAULT_SPIN_RPS = 0.5
DEFAULT_DRIFT_ANGLE = 30.0

_GRAMMAR = Path(__file__).with_name("eymo.lark")

# How the parser's terminals read in a message.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "_NL": "a new line",
    "$END": "the end of the script",
}
_SHAPE_HELP = "a part like mouth, mouth#1 or mouth+1, or rect(x y w h)"
_SELECTOR_MODES = {"face_index": "index", "face_next": "next", "face_prev": "prev"}
_SELECTOR_SIGNS = {"face_index": "#", "face_next": "+", "face_prev": "-"}


class ParseError(ValueError):
    """A mistake in an eymo script.

    Attributes:
        file: The script's name.
        line: 1-based line of the mistake.
        column: 1-based column of the mistake.
        message: What was wrong, without the location.
        source_line: The script's text on that line ("" when unknown).
    """

    def __init__(
        self, file: str, line: int, column: int, message: str, source_line: str = ""
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.source_line = source_line
        text = f"{file}:{line}:{column}: {message}"
        if source_line.strip():
            text += f"\n    {source_line}\n    {' ' * (column - 1)}^"
        super().__init__(text)


@dataclasses.dataclass(frozen=True)
class _Param:
    """One parameter of an operation: its name, kind, default and lower bound."""

    name: str
    kind: Literal["number", "shape", "mode"] = "number"
    default: float | None = None
    minimum: float | None = None
    strict: bool = False  # whether `minimum` itself is excluded


@dataclasses.dataclass(frozen=True)
class _OpSpec:
    """How to build one operation: its class, parameters, and whether the last repeats."""

    build: Callable[..., ast.Op]
    params: tuple[_Param, ...] = ()
    variadic: bool = False

    def usage(self, name: str) -> str:
        """Returns the operation as a user would write it, e.g. `drift(speed, angle=30)`."""
        shown = [p.name if p.default is None else f"{p.name}={p.default:g}" for p in self.params]
        if self.variadic:
            shown.append("...")
        return f"{name}({', '.join(shown)})" if shown else name


def _factors(*names: str) -> tuple[_Param, ...]:
    return tuple(_Param(n, minimum=0.0) for n in names)


def _stretches(*names: str) -> tuple[_Param, ...]:
    return tuple(_Param(n, minimum=0.0, strict=True) for n in names)


OPERATIONS: dict[str, _OpSpec] = {
    "scale": _OpSpec(ast.Scale, _stretches("factor")),
    "rotate": _OpSpec(ast.Rotate, (_Param("degrees"),)),
    "spin": _OpSpec(ast.Spin, (_Param("rps", default=DEFAULT_SPIN_RPS),)),
    "drift": _OpSpec(
        ast.Drift, (_Param("speed", minimum=0.0), _Param("angle", default=DEFAULT_DRIFT_ANGLE))
    ),
    "translate": _OpSpec(ast.Translate, (_Param("x"), _Param("y"))),
    "flip": _OpSpec(ast.Flip, (_Param("mode", "mode"),)),
    "brighten": _OpSpec(ast.Brighten, _factors("factor")),
    "saturate": _OpSpec(ast.Saturate, _factors("factor")),
    "channels": _OpSpec(ast.Channels, _factors("r", "g", "b")),
    "copy_to": _OpSpec(
        lambda *targets: ast.CopyTo(tuple(targets)), (_Param("targets", "shape"),), variadic=True
    ),
    "swap_with": _OpSpec(ast.SwapWith, (_Param("target", "shape"),)),
    "tile": _OpSpec(ast.Tile),
    "reshape": _OpSpec(ast.Reshape, _stretches("left", "right", "top", "bottom")),
}


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", propagate_positions=True)


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _or_list(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Builder:
    """Turns lark's tree into `Program`, checking names, argument counts, types and ranges."""

    def __init__(self, text: str, file: str) -> None:
        self._lines = text.splitlines()
        self._file = file

    def error(self, where: lark.Tree | lark.Token, message: str) -> ParseError:
        if isinstance(where, lark.Token):
            line, column = where.line or 1, where.column or 1
        else:
            line, column = where.meta.line, where.meta.column
        return self.error_at(line, column, message)

    def error_at(self, line: int, column: int, message: str) -> ParseError:
        source_line = self._lines[line - 1] if 0 < line <= len(self._lines) else ""
        return ParseError(self._file, line, column, message, source_line)

    def program(self, tree: lark.Tree) -> ast.Program:
        statements = tuple(self.statement(cast(lark.Tree, child)) for child in tree.children)
        return ast.Program(statements, self._file)

    def statement(self, tree: lark.Tree) -> ast.Statement:
        shape_tree, *op_trees = tree.children
        shape = self.shape(cast(lark.Tree, shape_tree))
        ops = tuple(self.op(cast(lark.Tree, op)) for op in op_trees)
        swaps = [op for op in op_trees if cast(lark.Tree, op).children[0] == "swap_with"]
        if len(swaps) > 1:
            raise self.error(
                cast(lark.Tree, swaps[1]), "swap_with can be used only once in a statement"
            )
        return ast.Statement(shape, ops, tree.meta.line)

    def shape(self, tree: lark.Tree) -> ast.Shape:
        if tree.data == "rect":
            x, y, w, h = (self.number(cast(lark.Tree, c)) for c in tree.children)
            for name, value in (("x", x), ("y", y), ("w", w), ("h", h)):
                if not 0.0 <= value <= 1.0:
                    raise self.error(
                        tree,
                        f"rect {name} is {value:g}, but rect values are fractions of the "
                        "frame between 0 and 1 (0.5 is the middle), not pixels",
                    )
            if w == 0.0 or h == 0.0:
                raise self.error(tree, "rect width and height must be greater than 0")
            return ast.RectShape(x, y, w, h)
        name = cast(lark.Token, tree.children[0])
        if name not in PARTS:
            raise self.error(
                name,
                f"unknown part '{name}'.{_did_you_mean(name, list(PARTS))} "
                f"The parts are {', '.join(PARTS)}, and rect(x y w h).",
            )
        if len(tree.children) == 1:
            return ast.PartShape(str(name))
        selector = cast(lark.Tree, tree.children[1])
        number = cast(lark.Token, selector.children[0])
        if not number.isdigit():
            raise self.error(
                number, f"a face number must be a whole number such as 0, 1 or 2, not {number}"
            )
        mode = _SELECTOR_MODES[str(selector.data)]
        return ast.PartShape(str(name), cast(ast.FaceMode, mode), int(number))

    def number(self, tree: lark.Tree) -> float:
        value = float(cast(lark.Token, tree.children[0]))
        return -value if tree.data == "negative" else value

    def op(self, tree: lark.Tree) -> ast.Op:
        name = cast(lark.Token, tree.children[0])
        spec = OPERATIONS.get(str(name))
        if spec is None:
            raise self.error(
                name,
                f"unknown operation '{name}'.{_did_you_mean(name, list(OPERATIONS))} "
                f"The operations are {_or_list(list(OPERATIONS))}.",
            )
        args = [cast(lark.Tree, a) for a in tree.children[1:] if a is not None]
        values: list[object] = []
        by_name: dict[str, object] = {}
        params = {p.name: p for p in spec.params}
        for arg in args:
            if arg.data == "keyword":
                key, value_tree = (
                    cast(lark.Token, arg.children[0]),
                    cast(lark.Tree, arg.children[1]),
                )
                param = params.get(str(key))
                if spec.variadic:
                    raise self.error(
                        key, f"the arguments of {name} have no names. Write {spec.usage(name)}."
                    )
                if param is None:
                    raise self.error(
                        key,
                        f"{name} has no argument named '{key}'."
                        f"{_did_you_mean(key, list(params))} Write {spec.usage(name)}.",
                    )
                if key in by_name or len(values) > spec.params.index(param):
                    raise self.error(key, f"argument '{key}' of {name} is given twice")
                by_name[str(key)] = self.value(value_tree, param, name)
            else:
                if by_name:
                    raise self.error(
                        arg, f"in {name}, an argument without a name cannot follow a named one"
                    )
                index = min(len(values), len(spec.params) - 1) if spec.variadic else len(values)
                if index >= len(spec.params):
                    raise self.error(arg, self.count_message(name, spec, len(args)))
                values.append(
                    self.value(cast(lark.Tree, arg.children[0]), spec.params[index], name)
                )
        for param in spec.params[len(values) :]:
            if param.name in by_name:
                values.append(by_name[param.name])
            elif param.default is not None:
                values.append(param.default)
            else:
                raise self.error(tree, self.count_message(name, spec, len(args)))
        return spec.build(*values)

    @staticmethod
    def count_message(name: str, spec: _OpSpec, given: int) -> str:
        required = sum(p.default is None for p in spec.params)
        if spec.variadic:
            wanted = f"at least {_plural(required, 'argument')}"
        elif required == len(spec.params):
            wanted = "no arguments" if not spec.params else _plural(required, "argument")
        else:
            wanted = f"{required} to {_plural(len(spec.params), 'argument')}"
        were = "was" if given == 1 else "were"
        return f"{name} takes {wanted}, but {given} {were} given. Write {spec.usage(name)}."

    def value(self, tree: lark.Tree, param: _Param, op_name: str) -> object:
        where = f"argument '{param.name}' of {op_name}"
        got = self.describe(tree)
        if param.kind == "mode":
            mode = str(tree.children[0]) if tree.data == "part" and len(tree.children) == 1 else ""
            if mode not in FLIP_MODES:
                hint = _did_you_mean(mode, FLIP_MODES)
                raise self.error(tree, f"flip takes {_or_list(FLIP_MODES)}, not {got}.{hint}")
            return mode
        if param.kind == "shape":
            if tree.data in ("number", "negative"):
                raise self.error(tree, f"{where} must be a shape ({_SHAPE_HELP}), not {got}")
            return self.shape(tree)
        if tree.data not in ("number", "negative"):
            raise self.error(tree, f"{where} must be a number, not {got}")
        value = self.number(tree)
        if param.minimum is not None and (
            value < param.minimum or (param.strict and value == param.minimum)
        ):
            bound = "greater than" if param.strict else "at least"
            raise self.error(tree, f"{where} must be {bound} {param.minimum:g}, not {value:g}")
        return value

    def describe(self, tree: lark.Tree) -> str:
        if tree.data == "number":
            return f"the number {tree.children[0]}"
        if tree.data == "negative":
            return f"the number -{tree.children[0]}"
        if tree.data == "rect":
            return "a rect"
        text = str(tree.children[0])
        if len(tree.children) == 2:
            selector = cast(lark.Tree, tree.children[1])
            text += _SELECTOR_SIGNS[str(selector.data)] + str(selector.children[0])
        return f"'{text}'"


def _token_words(token: lark.Token) -> str:
    if token.type == "_NL":
        return "a line break"
    if token.type == "NAME":
        return f"the name '{token}'"
    if token.type == "NUMBER":
        return f"the number {token}"
    return f"'{token}'"


def _expected_words(names: set[str]) -> str:
    """Lists what the parser could accept, in words; a line break only where it ends a statement."""
    if not names & {"SEMICOLON", "$END"}:
        names = names - {"_NL"} or names
    if names == {"NAME"}:
        return "an operation such as scale(2)"
    terminals = {t.name: t for t in _parser().terminals}
    words = sorted(
        f"'{terminals[n].pattern.value}'" for n in names if n not in _TERMINAL_WORDS and n != "RECT"
    )
    if "RECT" in names and "NUMBER" not in names:
        words.append("a shape (a part name or rect(x y w h))")
    else:
        words += ["'rect('"] * ("RECT" in names) + [_TERMINAL_WORDS["NAME"]] * ("NAME" in names)
    words += [_TERMINAL_WORDS[n] for n in ("NUMBER", "_NL", "$END") if n in names]
    return _or_list(words)


def _syntax_error(
    builder: _Builder, text: str, error: lark.exceptions.UnexpectedInput
) -> ParseError:
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        position = cast(int, error.pos_in_stream)
        if text.startswith("/*", position):
            return builder.error_at(
                error.line, error.column, "this comment is never closed: add */ where it ends"
            )
        message = f"'{text[position]}' cannot be used here"
        if error.allowed:
            message += f"; expected {_expected_words(set(error.allowed))}"
        return builder.error_at(error.line, error.column, message)
    unexpected = cast(lark.exceptions.UnexpectedToken, error)
    token = unexpected.token
    expected = set(unexpected.accepts or unexpected.expected)
    if token.type == "$END":
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = f"the script ends too early; expected {_expected_words(expected)}"
    else:
        line, column = token.line or 1, token.column or 1
        message = f"expected {_expected_words(expected)}, but found {_token_words(token)}"
    if "COMMA" in expected and token.type == "NAME":
        message += " (separate operations with ',')"
    elif "COLON" in expected:
        message += " (write a shape, then ':', then its operations)"
    return builder.error_at(line, column, message)


def parse(text: str, file: str = "<script>") -> ast.Program:
    """Parses an eymo script.

    Args:
        text: The script.
        file: The name that error messages use.

    Returns:
        The program.

    Raises:
        ParseError: The script has a mistake; the message says where and what.
    """
    builder = _Builder(text, file)
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as error:
        raise _syntax_error(builder, text, error) from None
    return builder.program(tree)


def parse_file(path: str | os.PathLike[str]) -> ast.Program:
    """Reads and parses an eymo script file (UTF-8).

    Raises:
        ParseError: The script has a mistake.
        OSError: The file cannot be read.
    """
    return parse(Path(path).read_text(encoding="utf-8"), os.fspath(path))
