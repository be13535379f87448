"""Data folders: found in the checkout, and carried by the wheel."""

import pathlib
import subprocess
import sys
import zipfile

import pytest

from graphflow.resources import RESOURCES, find_graph, resource_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_checkout_folders_are_found() -> None:
    for name in RESOURCES:
        assert resource_dir(name) == ROOT / name
    with pytest.raises(ValueError, match="unknown resource folder 'shaders'"):
        resource_dir("shaders")


def test_graphs_by_path_or_name(tmp_path: pathlib.Path) -> None:
    own = tmp_path / "mine.pbtxt"
    own.write_text("")
    assert find_graph(own) == own
    assert find_graph("eymo.pbtxt") == ROOT / "graphs" / "eymo.pbtxt"
    with pytest.raises(FileNotFoundError, match=r"bundled graphs: .*eymo"):
        find_graph("nothing_like_it")


def test_the_wheel_carries_the_data_folders_and_package_data(tmp_path: pathlib.Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "--quiet", "--wheel-dir", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("graphflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in RESOURCES:
        tracked = subprocess.run(["git", "ls-files", name], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.split()
        assert tracked, name
        missing = [f for f in tracked if f"graphflow/_data/{f}" not in names]
        assert not missing, missing
    assert "graphflow/app/cli.py" in names and "calculators/io/video.py" in names
    assert "calculators/index.py" in names and "graphflow/tflite_onnx/converter.py" in names
    assert "calculators/eymo/eymo.lark" in names
    assert "graphflow/solutions/face_mesh_connections.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "graphflow = graphflow.app.cli:main" in declared
    assert "[graphflow.calculators]\nbuiltin = calculators.index:CALCULATORS" in declared
