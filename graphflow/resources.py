"""Where graphflow's data folders are: in a repository checkout or inside an installed wheel.

The repository keeps ``graphs/``, ``glsl/``, ``models/`` and ``proto/`` next to the
``graphflow`` package; the wheel carries copies of them in ``graphflow/_data/`` (see
``setup.py``). :func:`resource_dir` finds the one that exists, so code never depends on
how graphflow was installed.
"""

from __future__ import annotations

import pathlib

RESOURCES = ("graphs", "glsl", "models", "proto")

_PACKAGE = pathlib.Path(__file__).resolve().parent
# Installed wheel first, then the checkout the package was imported from.
_BASES = (_PACKAGE / "_data", _PACKAGE.parent)


def resource_dir(name: str) -> pathlib.Path:
    """The folder of one of graphflow's data resources.

    Args:
        name: One of ``"graphs"``, ``"glsl"``, ``"models"`` or ``"proto"``.

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
