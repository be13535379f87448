"""Where graphflow's data folders are: in a repository checkout or inside an installed wheel.

The repository keeps ``graphs/``, ``glsl/``, ``models/``, ``proto/``, ``examples/`` (eymo
scripts) and ``media/`` (the demo clip) next to the ``graphflow`` package; the wheel carries
copies of them in ``graphflow/_data/`` (see ``setup.py``). :func:`resource_dir` finds the
one that exists, so code never depends on how graphflow was installed.
"""

from __future__ import annotations

import pathlib

from graphflow.calculator import did_you_mean

RESOURCES = ("graphs", "glsl", "models", "proto", "examples", "media")

_PACKAGE = pathlib.Path(__file__).resolve().parent
# Installed wheel first, then the checkout the package was imported from.
_BASES = (_PACKAGE / "_data", _PACKAGE.parent)


def resource_dir(name: str) -> pathlib.Path:
    """The folder of one of graphflow's data resources.

    Args:
        name: One of ``"graphs"``, ``"glsl"``, ``"models"``, ``"proto"``, ``"examples"``,
            ``"media"``.

    Returns:
        The existing folder: ``graphflow/_data/<name>`` in an installed wheel, or
        ``<checkout>/<name>`` in a repository checkout (editable installs included).

    Raises:
        ValueError: If ``name`` is not one of the resources.
        FileNotFoundError: If neither place holds the folder (a broken install).
    """
    if name not in RESOURCES:
        raise ValueError(f"unknown resource folder {name!r}: expected one of "
                         f"{', '.join(RESOURCES)}")
    for base in _BASES:
        folder = base / name
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"graphflow's {name!r} folder is missing: looked in "
        f"{' and '.join(str(base / name) for base in _BASES)} (reinstall graphflow)")


def bundled_graphs() -> list[str]:
    """The names of the bundled top-level graphs (``graphs/<name>.pbtxt``)."""
    return sorted(p.stem for p in resource_dir("graphs").glob("*.pbtxt"))


def find_graph(name: str | pathlib.Path) -> pathlib.Path:
    """A graph file given as a path, or by the name of a bundled graph.

    Args:
        name: A path to a ``.pbtxt`` / ``.binarypb`` file, or a bundled graph's name with or
            without ``.pbtxt`` (``"eymo"`` finds ``graphs/eymo.pbtxt``).

    Raises:
        FileNotFoundError: Neither exists; the message lists the bundled graphs.
    """
    path = pathlib.Path(name)
    if path.is_file():
        return path
    graphs = resource_dir("graphs")
    for candidate in (graphs / path, graphs / f"{path}.pbtxt"):
        if candidate.is_file():
            return candidate
    known = bundled_graphs()
    raise FileNotFoundError(f"no graph file {str(name)!r} and no bundled graph of that name"
                            f"{did_you_mean(str(name), known)}; bundled graphs: "
                            f"{', '.join(known) or 'none'}")
