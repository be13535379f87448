"""The window sink under Xvfb: the screen (Xvfb's framebuffer file) shows the frame."""

import ctypes
import ctypes.util
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import graphflow as gf
from calculators.gpu.window_sink import _Window, letterbox
from graphflow.image_frame import ImageFrame

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None,
                                reason="needs Xvfb (apt-get install -y xvfb xauth)")


@pytest.fixture
def screen(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A virtual X display on a free number; yields the file Xvfb mirrors its screen into."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "320x240x24",
                               "-fbdir", str(tmp_path), "-nolisten", "tcp"],
                              pass_fds=[write_fd], stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as announced:
        number = announced.readline().strip()  # written once the server accepts clients
    assert number, "Xvfb did not start"
    monkeypatch.setenv("DISPLAY", f":{number}")
    try:
        yield tmp_path / "Xvfb_screen0"
    finally:
        server.terminate()
        server.wait()


def read_xwd(path: pathlib.Path) -> np.ndarray:
    """The screen as (h, w, 3) RGB from an XWD file (32-bit TrueColor, as Xvfb writes)."""
    data = path.read_bytes()
    fields = np.frombuffer(data[:100], ">u4")
    header_size, width, height = int(fields[0]), int(fields[4]), int(fields[5])
    byte_order, bits, stride, ncolors = (int(fields[7]), int(fields[11]), int(fields[12]),
                                         int(fields[19]))
    assert bits == 32
    start = header_size + 12 * ncolors
    words = np.frombuffer(data[start:start + stride * height], "<u4" if byte_order == 0 else ">u4")
    words = words.reshape(height, stride // 4)[:, :width]
    masks = [int(fields[14]), int(fields[15]), int(fields[16])]
    shifts = [(m & -m).bit_length() - 1 for m in masks]
    return np.stack([(words & m) >> s for m, s in zip(masks, shifts, strict=True)],
                    axis=-1).astype(np.uint8)


def test_letterbox_keeps_the_aspect_ratio() -> None:
    assert letterbox(64, 48, 128, 48) == (32, 0, 64, 48)
    assert letterbox(64, 48, 64, 96) == (0, 24, 64, 48)
    assert letterbox(64, 48, 64, 48) == (0, 0, 64, 48)


def test_the_window_shows_the_frame(screen: pathlib.Path) -> None:
    rng = np.random.default_rng(3)
    frame = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 3), np.uint8), 8, 0), 8, 1)
    graph = gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        node { calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in"
               output_stream: "gpu" }
        node { calculator: "WindowSinkCalculator" input_stream: "gpu" }
    """)
    graph.start_run()
    graph.add_packet_to_input_stream("in", gf.Packet(ImageFrame(frame)).at(0))
    graph.wait_until_idle()
    shot = read_xwd(screen)[:48, :64]
    graph.close_all_input_streams()
    graph.wait_until_done()
    np.testing.assert_array_equal(shot, frame)


def test_a_wider_window_letterboxes_the_frame(screen: pathlib.Path) -> None:
    import glfw

    frame = np.repeat(np.repeat(np.random.default_rng(5).integers(0, 256, (6, 8, 4), np.uint8),
                                8, 0), 8, 1)
    window = _Window("t", 64, 48)
    try:
        glfw.set_window_size(window.window, 128, 48)
        for _ in range(3):  # until the server has applied the new size
            window.show(frame)
        shot = read_xwd(screen)[:48, :128]
    finally:
        window.close()
    np.testing.assert_array_equal(shot[:, 32:96], frame[..., :3])
    assert not shot[:, :32].any() and not shot[:, 96:].any()


def test_q_and_window_close_end_the_window(screen: pathlib.Path) -> None:
    import glfw

    pixels = np.zeros((4, 4, 4), np.uint8)
    window = _Window("t", 4, 4)
    try:
        assert window.show(pixels)
        window._on_key(window.window, glfw.KEY_Q, 0, glfw.PRESS, 0)
        assert not window.show(pixels)
        window.quit = False
        glfw.set_window_should_close(window.window, True)
        assert not window.show(pixels)
    finally:
        window.close()


def press_key(keysym: str) -> None:
    """Moves the pointer over the window (no window manager: focus follows it) and types."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xtst = ctypes.CDLL(ctypes.util.find_library("Xtst") or "libXtst.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XStringToKeysym.restype = ctypes.c_ulong
    x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                          ctypes.c_int, ctypes.c_ulong]
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                       ctypes.c_ulong]
    display = x11.XOpenDisplay(os.environ["DISPLAY"].encode())
    assert display
    try:
        xtst.XTestFakeMotionEvent(display, 0, 10, 10, 0)
        code = x11.XKeysymToKeycode(display, x11.XStringToKeysym(keysym.encode()))
        xtst.XTestFakeKeyEvent(display, code, True, 0)
        xtst.XTestFakeKeyEvent(display, code, False, 0)
        x11.XFlush(display)
    finally:
        x11.XCloseDisplay(display)


@pytest.mark.parametrize("key", ["q", "Escape"])
def test_pressing_q_or_esc_ends_the_run_cleanly(screen: pathlib.Path, key: str) -> None:
    frame = ImageFrame(np.zeros((48, 64, 3), np.uint8))
    graph = gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        node { calculator: "WindowSinkCalculator" input_stream: "in" }
    """)
    graph.start_run()
    graph.add_packet_to_input_stream("in", gf.Packet(frame).at(0))
    graph.wait_until_idle()
    press_key(key)
    # Each frame polls the window's events: frames go in until one of them sees the key.
    sent = 1
    while not graph.input_stream_closed("in") and sent < 10_000:
        graph.add_packet_to_input_stream("in", gf.Packet(frame).at(sent))
        graph.wait_until_idle()
        sent += 1
    try:
        assert graph.input_stream_closed("in"), f"{key} did not end the run in {sent} frames"
        graph.wait_until_done(timeout=5)  # no close_all_input_streams: the window ends it
    except (AssertionError, TimeoutError):
        graph.close_all_input_streams()  # close the window before the X server goes away
        graph.wait_until_done(timeout=10)
        raise


def window_titles() -> list[str]:
    """The names of the X server's top-level windows (no window manager: glfw's own)."""
    # Not checked: xwininfo fails when a window goes away while it looks at it.
    tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True,
                          check=False).stdout
    return re.findall(r'^\s+0x[0-9a-f]+ "(.*)": \(', tree, re.M)


def wait_for_title(pattern: str, run: threading.Thread) -> str:
    """The first window title that matches, while the run goes on."""
    while run.is_alive():
        found = [t for t in window_titles() if re.search(pattern, t)]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"the run ended before a window title matched {pattern!r}: "
                         f"{window_titles()}")


@pytest.mark.skipif(shutil.which("xwininfo") is None, reason="needs xwininfo (x11-utils)")
def test_graphflow_run_to_a_window_titles_it_with_the_script_and_the_frame_rate(
        screen: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from calculators.io.video import VideoWriter
    from graphflow.app.cli import main

    # Long enough to edit the script while it plays however fast the graph runs (5 minutes at
    # 30 fps, about 30 s at the 300 fps this machine reaches): the test ends the run with q
    # once it has seen the reload.
    clip = tmp_path / "long.avi"
    writer = VideoWriter(clip, fps=30)
    for i in range(9000):
        writer.write(i * 33_333, np.full((120, 160, 3), (i * 7) % 256, np.uint8))
    writer.close()
    script = tmp_path / "fx.eymo"
    script.write_text("rect(0.1 0.1 0.3 0.3): brighten(1.5)\n")
    status: list[int] = []
    run = threading.Thread(target=lambda: status.append(main(
        ["run", "eymo", "--input", str(clip), "--output", "window", "--quiet",
         "-s", f"script={script}"])))
    run.start()
    try:
        first = wait_for_title(r"fx\.eymo - \d+\.\d fps$", run)
        assert first.startswith("graphflow - fx.eymo - ")
        script.write_text("rect(0.1 0.1 0.3 0.3): brighten(0.5)\n")
        wait_for_title(r"^graphflow - fx\.eymo \(reload 1\) - \d+\.\d fps$", run)
        press_key("q")
    finally:
        run.join(timeout=120)
    assert status == [0]
