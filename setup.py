"""Build hook: the wheel carries the repository's data folders inside the package.

``graphs/``, ``glsl/``, ``models/``, ``proto/``, ``examples/`` and ``media/`` live at the top
of the repository; the wheel gets copies under ``graphflow/_data/``, where
``graphflow.resources.resource_dir`` finds them. Everything else about the build is in
pyproject.toml.
"""

import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent
DATA_FOLDERS = ("graphs", "glsl", "models", "proto", "examples", "media")


class BuildPyWithData(build_py):
    """``build_py`` that also copies the data folders into ``graphflow/_data``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        target = pathlib.Path(self.build_lib) / "graphflow" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # no stale files from an earlier build
        for name in DATA_FOLDERS:
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithData})
