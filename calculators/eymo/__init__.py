"""eymo: a small command language that moves, scales, spins, recolours and swaps face parts.

`parse` / `parse_file` turn a script into a `Program`, `ScriptWatcher` reloads a script file
when it changes, and `draw_items` turns a program, the faces' landmarks and a timestamp into
the `DrawItem`s a GPU renderer draws.
"""

from calculators.eymo.geometry import DrawItem, draw_items
from calculators.eymo.parser import OPERATIONS, ParseError, parse, parse_file
from calculators.eymo.parts import PARTS
from calculators.eymo.program import Program, Statement
from calculators.eymo.watcher import ScriptWatcher

__all__ = [
    "OPERATIONS",
    "PARTS",
    "DrawItem",
    "ParseError",
    "Program",
    "ScriptWatcher",
    "Statement",
    "draw_items",
    "parse",
    "parse_file",
]
