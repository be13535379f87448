"""Tests of the eymo grammar, the syntax tree it builds and every error message."""

from pathlib import Path

import pytest

from calculators.eymo import ParseError, parse, parse_file
from calculators.eymo import program as ast

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def ops(text: str) -> tuple[ast.Op, ...]:
    (statement,) = parse(text).statements
    return statement.ops


def test_design_example_parses_to_the_expected_tree() -> None:
    program = parse_file(EXAMPLES / "default.eymo")
    assert program.statements == (
        ast.Statement(
            ast.PartShape("leye"),
            (
                ast.Scale(4.0),
                ast.Saturate(1.2),
                ast.Brighten(1.4),
                ast.Spin(0.3),
                ast.Drift(100.0, 30.0),
            ),
        ),
        ast.Statement(
            ast.PartShape("mouth"),
            (
                ast.CopyTo((ast.PartShape("reye_region", "next", 1),)),
                ast.Scale(1.5),
                ast.Brighten(1.2),
                ast.Saturate(1.3),
            ),
        ),
        ast.Statement(
            ast.PartShape("leye_region"),
            (ast.SwapWith(ast.PartShape("mouth", "next", 1)), ast.Scale(1.5)),
        ),
    )
    assert program.source == str(EXAMPLES / "default.eymo")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.eymo")), ids=lambda p: p.name)
def test_every_example_parses(path: Path) -> None:
    assert parse_file(path).statements


def test_examples_include_the_promised_scripts() -> None:
    names = {p.name for p in EXAMPLES.glob("*.eymo")}
    assert {"default.eymo", "spin.eymo", "swap.eymo", "bigeyes.eymo"} <= names


def test_separators_comments_and_continuation_lines() -> None:
    program = parse("""
        // a line comment
        leye: scale(2) ; reye: scale(3);;
        /* a block comment
           over two lines */ mouth:
            rotate(10),   // after a comma the statement goes on
            spin(
              0.25)
        nose: tile;
    """)
    assert [s.shape for s in program.statements] == [
        ast.PartShape(p) for p in ("leye", "reye", "mouth", "nose")
    ]
    assert program.statements[2].ops == (ast.Rotate(10.0), ast.Spin(0.25))
    assert [s.line for s in program.statements] == [3, 3, 5, 9]


def test_empty_and_comment_only_scripts_have_no_statements() -> None:
    assert parse("").statements == ()
    assert parse("// nothing\n/* here */\n;\n").statements == ()


def test_shapes() -> None:
    program = parse(
        "face: tile\nmouth#2: tile\nleye+1: tile\nreye-3: tile\nforehead: copy_to(nose#0, nose-1)"
    )
    assert [s.shape for s in program.statements] == [
        ast.PartShape("face"),
        ast.PartShape("mouth", "index", 2),
        ast.PartShape("leye", "next", 1),
        ast.PartShape("reye", "prev", 3),
        ast.PartShape("forehead"),
    ]
    assert program.statements[4].ops == (
        ast.CopyTo((ast.PartShape("nose", "index", 0), ast.PartShape("nose", "prev", 1))),
    )


@pytest.mark.parametrize(
    "text",
    [
        "rect(0.1 0.2 0.3 0.4)",
        "rect(0.1, 0.2, 0.3, 0.4)",
        "rect( .1,.2 0.3 ,4e-1 )",
        "rect(+0.1 0.2, 0.3 0.4)",
    ],
)
def test_rect_accepts_spaces_and_commas(text: str) -> None:
    (statement,) = parse(f"{text}: swap_with({text})").statements
    assert statement.shape == ast.RectShape(0.1, 0.2, 0.3, 0.4)
    assert statement.ops == (ast.SwapWith(ast.RectShape(0.1, 0.2, 0.3, 0.4)),)


def test_every_operation_and_its_defaults() -> None:
    assert ops("leye: scale(1.5), rotate(-30), spin, spin(), spin(2), spin(rps=-1)") == (
        ast.Scale(1.5),
        ast.Rotate(-30.0),
        ast.Spin(0.5),
        ast.Spin(0.5),
        ast.Spin(2.0),
        ast.Spin(-1.0),
    )
    assert ops(
        "leye: drift(100), drift(50, 90), drift(speed=1, angle=-45), drift(2, angle=10)"
    ) == (
        ast.Drift(100.0, 30.0),
        ast.Drift(50.0, 90.0),
        ast.Drift(1.0, -45.0),
        ast.Drift(2.0, 10.0),
    )
    assert ops("leye: translate(-3, +4), translate(y=1, x=2)") == (
        ast.Translate(-3.0, 4.0),
        ast.Translate(2.0, 1.0),
    )
    assert ops("leye: flip(horizontal), flip(vertical), flip(mode=both)") == (
        ast.Flip("horizontal"),
        ast.Flip("vertical"),
        ast.Flip("both"),
    )
    assert ops("leye: brighten(1.4), saturate(0), channels(1, 0.5, 2)") == (
        ast.Brighten(1.4),
        ast.Saturate(0.0),
        ast.Channels(1.0, 0.5, 2.0),
    )
    assert ops(
        "leye: copy_to(mouth, rect(0 0 .5 .5), reye#1), swap_with(target=nose+2), tile, tile()"
    ) == (
        ast.CopyTo(
            (
                ast.PartShape("mouth"),
                ast.RectShape(0.0, 0.0, 0.5, 0.5),
                ast.PartShape("reye", "index", 1),
            )
        ),
        ast.SwapWith(ast.PartShape("nose", "next", 2)),
        ast.Tile(),
        ast.Tile(),
    )
    assert ops("leye: reshape(1, 2, 0.5, 1e1), scale(.5)") == (
        ast.Reshape(1.0, 2.0, 0.5, 10.0),
        ast.Scale(0.5),
    )


def test_the_line_number_is_not_part_of_equality() -> None:
    assert parse("leye: tile") == parse("\n\nleye:\n tile", file="other.eymo")


def test_parse_error_is_a_value_error_with_location_and_caret() -> None:
    with pytest.raises(ValueError) as info:
        parse("leye: scale(2)\nmouth: scael(2)", file="fun.eymo")
    error = info.value
    assert isinstance(error, ParseError)
    assert (error.file, error.line, error.column) == ("fun.eymo", 2, 8)
    assert str(error) == (
        "fun.eymo:2:8: unknown operation 'scael'. Did you mean 'scale'? The operations are "
        "scale, rotate, spin, drift, translate, flip, brighten, saturate, channels, copy_to, "
        "swap_with, tile or reshape.\n    mouth: scael(2)\n           ^"
    )


def test_parse_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.eymo"
    path.write_text("leye: tile\n\nleye scale(2)\n", encoding="utf-8")
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}:3:6: expected ")


PARTS_LIST = (
    "The parts are face, mouth, leye, leye_region, reye, reye_region, nose, forehead, "
    "and rect(x y w h)."
)
SHAPE_KINDS = "a part like mouth, mouth#1 or mouth+1, or rect(x y w h)"

ERRORS = [
    # Syntax.
    (
        "leye scale(2)",
        1,
        6,
        (
            "expected '#', '+', '-' or ':', but found the name 'scale' "
            "(write a shape, then ':', then its operations)"
        ),
    ),
    (
        "leye: scale(2) spin",
        1,
        16,
        (
            "expected ',', ';', a new line or the end of the script, but found the name "
            "'spin' (separate operations with ',')"
        ),
    ),
    (
        ":",
        1,
        1,
        (
            "expected ';', a shape (a part name or rect(x y w h)), a new line or the end of the "
            "script, "
            "but found ':'"
        ),
    ),
    (
        "leye: scale(",
        1,
        13,
        "the script ends too early; expected ')', '+', '-', 'rect(', a name or a number",
    ),
    ("leye: scale(2),", 1, 16, "the script ends too early; expected an operation such as scale(2)"),
    ("leye:\n\n", 3, 1, "the script ends too early; expected an operation such as scale(2)"),
    ("leye: scale(2) $", 1, 16, "'$' cannot be used here; expected ',', ';' or a new line"),
    (
        "leye: tile\nmouth: tile /* oops",
        2,
        13,
        "this comment is never closed: add */ where it ends",
    ),
    ("leye: scale(2 3)", 1, 15, "expected ')' or ',', but found the number 3"),
    ("rect: tile", 1, 5, "expected '(', but found ':'"),
    # Names.
    ("leey: scale(2)", 1, 1, f"unknown part 'leey'. Did you mean 'leye'? {PARTS_LIST}"),
    ("chin: scale(2)", 1, 1, f"unknown part 'chin'. {PARTS_LIST}"),
    ("rectangle: tile", 1, 1, f"unknown part 'rectangle'. {PARTS_LIST}"),
    ("leye: copy_to(mouht)", 1, 15, f"unknown part 'mouht'. Did you mean 'mouth'? {PARTS_LIST}"),
    (
        "leye: wobble",
        1,
        7,
        (
            "unknown operation 'wobble'. The operations are scale, rotate, spin, drift, translate, "
            "flip, brighten, saturate, channels, copy_to, swap_with, tile or reshape."
        ),
    ),
    # Arguments.
    ("leye: scale(1, 2)", 1, 16, "scale takes 1 argument, but 2 were given. Write scale(factor)."),
    (
        "leye: translate(1)",
        1,
        7,
        "translate takes 2 arguments, but 1 was given. Write translate(x, y).",
    ),
    ("leye: scale", 1, 7, "scale takes 1 argument, but 0 were given. Write scale(factor)."),
    (
        "leye: drift()",
        1,
        7,
        "drift takes 1 to 2 arguments, but 0 were given. Write drift(speed, angle=30).",
    ),
    (
        "leye: drift(1, 2, 3)",
        1,
        19,
        "drift takes 1 to 2 arguments, but 3 were given. Write drift(speed, angle=30).",
    ),
    ("leye: tile(1)", 1, 12, "tile takes no arguments, but 1 was given. Write tile."),
    (
        "leye: copy_to()",
        1,
        7,
        "copy_to takes at least 1 argument, but 0 were given. Write copy_to(targets, ...).",
    ),
    ("leye: spin(speed=2)", 1, 12, "spin has no argument named 'speed'. Write spin(rps=0.5)."),
    (
        "leye: drift(sped=2)",
        1,
        13,
        ("drift has no argument named 'sped'. Did you mean 'speed'? Write drift(speed, angle=30)."),
    ),
    (
        "leye: copy_to(targets=mouth)",
        1,
        15,
        "the arguments of copy_to have no names. Write copy_to(targets, ...).",
    ),
    ("leye: spin(0.3, rps=2)", 1, 17, "argument 'rps' of spin is given twice"),
    ("leye: spin(rps=0.3, rps=2)", 1, 21, "argument 'rps' of spin is given twice"),
    (
        "leye: drift(speed=1, 30)",
        1,
        22,
        "in drift, an argument without a name cannot follow a named one",
    ),
    ("leye: scale(leye)", 1, 13, "argument 'factor' of scale must be a number, not 'leye'"),
    (
        "leye: rotate(mouth#1)",
        1,
        14,
        "argument 'degrees' of rotate must be a number, not 'mouth#1'",
    ),
    (
        "leye: scale(rect(0 0 1 1))",
        1,
        13,
        "argument 'factor' of scale must be a number, not a rect",
    ),
    (
        "leye: copy_to(mouth, 2)",
        1,
        22,
        (f"argument 'targets' of copy_to must be a shape ({SHAPE_KINDS}), not the number 2"),
    ),
    (
        "leye: swap_with(-1)",
        1,
        17,
        (f"argument 'target' of swap_with must be a shape ({SHAPE_KINDS}), not the number -1"),
    ),
    ("leye: flip(sideways)", 1, 12, "flip takes horizontal, vertical or both, not 'sideways'."),
    (
        "leye: flip(horizonal)",
        1,
        12,
        ("flip takes horizontal, vertical or both, not 'horizonal'. Did you mean 'horizontal'?"),
    ),
    ("leye: flip(mouth+1)", 1, 12, "flip takes horizontal, vertical or both, not 'mouth+1'."),
    ("leye: flip(2)", 1, 12, "flip takes horizontal, vertical or both, not the number 2."),
    ("leye: flip(rect(0 0 1 1))", 1, 12, "flip takes horizontal, vertical or both, not a rect."),
    # Ranges.
    ("leye: scale(0)", 1, 13, "argument 'factor' of scale must be greater than 0, not 0"),
    (
        "leye: reshape(1, 1, -2, 1)",
        1,
        21,
        "argument 'top' of reshape must be greater than 0, not -2",
    ),
    ("leye: brighten(-1)", 1, 16, "argument 'factor' of brighten must be at least 0, not -1"),
    ("leye: channels(1, -0.5, 1)", 1, 19, "argument 'g' of channels must be at least 0, not -0.5"),
    ("leye: drift(-10)", 1, 13, "argument 'speed' of drift must be at least 0, not -10"),
    ("leye#1.5: tile", 1, 6, "a face number must be a whole number such as 0, 1 or 2, not 1.5"),
    (
        "leye: copy_to(mouth+1e1)",
        1,
        21,
        "a face number must be a whole number such as 0, 1 or 2, not 1e1",
    ),
    (
        "rect(10 10 100 100): tile",
        1,
        1,
        (
            "rect x is 10, but rect values are fractions of the frame between 0 and 1 "
            "(0.5 is the middle), not pixels"
        ),
    ),
    (
        "leye: copy_to(rect(0 0 0.5 1.5))",
        1,
        15,
        (
            "rect h is 1.5, but rect values are fractions of the frame between "
            "0 and 1 (0.5 is the middle), not pixels"
        ),
    ),
    ("rect(0.1 0.1 0 0.2): tile", 1, 1, "rect width and height must be greater than 0"),
    # Statements.
    (
        "leye: swap_with(mouth), tile, swap_with(reye)",
        1,
        31,
        "swap_with can be used only once in a statement",
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_messages(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text, file="s.eymo")
    error = info.value
    assert (error.message, error.line, error.column) == (message, line, column)
    assert str(error).startswith(f"s.eymo:{line}:{column}: {message}")
