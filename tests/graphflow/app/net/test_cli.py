"""``graphflow send`` / ``graphflow serve`` through their argument parsers, on real sockets."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import cv2
import pytest
from streamkit import TEST_GRAPH, make_image, run_clean, until

from graphflow.app import cli
from graphflow.app.net import StreamServer
from graphflow.app.net.cli import browse_url, parse_address

pytestmark = pytest.mark.timeout(60)

PASS_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """graphflow.app.cli.main configures the root logger; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(("text", "address"), [
    ("example.org:7000", ("example.org", 7000)), (":81", ("127.0.0.1", 81)),
    ("[::1]:9", ("::1", 9)), ("0.0.0.0:0", ("0.0.0.0", 0)),
])
def test_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["7000", "host:", "host:70000", "host:x"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected HOST:PORT"):
        parse_address(text)


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:80/"), ("0.0.0.0", "http://127.0.0.1:80/"),
    ("::", "http://[::1]:80/"), ("fe80::1", "http://[fe80::1]:80/"), ("box", "http://box:80/"),
])
def test_the_console_address_to_open(host: str, url: str) -> None:
    assert browse_url(host, 80) == url


def test_defaults_bind_loopback() -> None:
    args = cli.build_parser().parse_args(["serve", "g.pbtxt"])
    assert (args.ingest, args.http) == (("127.0.0.1", 7000), ("127.0.0.1", 8080))
    assert args.max_frame_bytes == 8 * 1024 * 1024


def test_bad_channel_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["send", "--to", ":1", "--channel", "no/slash"])
    assert "invalid channel name 'no/slash'" in capsys.readouterr().err


def test_serve_names_the_bundled_graphs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "no_such_graph"]) == 2
    assert "bundled graphs: " in capsys.readouterr().err


def test_send_a_file_to_a_server(tmp_path: pathlib.Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 100.0, (64, 48))
    for i in range(6):
        writer.write(make_image(i)[..., ::-1])
    writer.release()

    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server:
            status = await asyncio.to_thread(cli.main, [
                "send", "--to", f"127.0.0.1:{server.ingest_port}", "--channel", "file1",
                "--input", str(video), "--quality", "90"])
            assert status == 0
            await until(lambda: server.channel_names() == [], what="sender gone")

    run_clean(main)
    assert "6 frames sent, 0 dropped, 1 connection(s)" in capsys.readouterr().out


def test_send_reports_a_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["send", "--to", ":1", "--channel", "c", "--input", "nope.mp4"]) == 1
    assert "input 'nope.mp4' is neither an existing file" in capsys.readouterr().err


def test_serve_runs_until_interrupted(tmp_path: pathlib.Path) -> None:
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_GRAPH)
    process = subprocess.Popen(
        [sys.executable, "-m", "graphflow.app.cli", "serve", str(graph), "--ingest", ":0",
         "--http", ":0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("graphflow serve: ingest 127.0.0.1:"), line
        url = line.split("http ")[1].strip()
        assert process.stdout.readline() == f"graphflow serve: open {url} in a browser for the " \
            "console\n"
        with urllib.request.urlopen(url + "healthz", timeout=10) as response:
            assert response.read() == b'{"status": "ok", "streams": 0}'
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_reports_a_missing_stream(tmp_path: pathlib.Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_GRAPH)
    assert cli.main(["serve", str(graph), "--video-stream", "annotated"]) == 1
    assert "'annotated' is not one of its output streams ['output_video']" in \
        capsys.readouterr().err
