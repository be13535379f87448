"""The web console in a real browser: headless Chromium (through the DevTools protocol) on the
page of a real ``graphflow serve`` child process, fed by real ``graphflow send`` processes.

Screenshots of each test are left in its ``tmp_path`` (``*.png``) for a person to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from browser import CHROMIUM, Page, die_with_parent

from calculators.eymo.parser import ParseError, parse
from graphflow.resources import resource_dir

pytestmark = pytest.mark.timeout(240)

CLIP_SIZE = (640, 360)
GREY = "rect(0 0 1 1): saturate(0)\n"
DARK = "rect(0 0 1 1): brighten(0.2)\n"
MISTAKE = "leye: scale(2)\nmouth: scael(1.5)\n"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """The demo clip at 640x360 (4 s); the same at 320x180 and half speed, four times (32 s:
    a managed stream's run lasts through a test); its first frame as a still image."""
    folder = tmp_path_factory.mktemp("media")
    capture = cv2.VideoCapture(str(resource_dir("media") / "demo.mp4"))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.resize(frame, CLIP_SIZE, interpolation=cv2.INTER_AREA))
    files = {"clip": folder / "demo.avi", "long": folder / "long.avi",
             "still": folder / "still.png"}
    for name, fps, size, repeat in (("clip", 30.0, CLIP_SIZE, 1),
                                    ("long", 15.0, (CLIP_SIZE[0] // 2, CLIP_SIZE[1] // 2), 4)):
        writer = cv2.VideoWriter(str(files[name]), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
        for frame in frames * repeat:
            writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        writer.release()
    cv2.imwrite(str(files["still"]), frames[0])
    return files


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Serve:
    """``graphflow serve`` in a child process, on ports of its own that outlive a restart."""

    def __init__(self, log: pathlib.Path, *args: str, token: str | None = None,
                 admin_token: str | None = None) -> None:
        self.args = args
        self.tokens = {"GRAPHFLOW_TOKEN": token, "GRAPHFLOW_ADMIN_TOKEN": admin_token}
        self.log = log
        self.ingest = free_port()
        self.url = f"http://127.0.0.1:{free_port()}/"
        self.process: subprocess.Popen[str] | None = None
        self.printed: list[str] = []

    def start(self) -> None:
        """Starts the server; returns once it printed that it listens."""
        env = {**os.environ, **{k: v for k, v in self.tokens.items() if v is not None}}
        for variable in [k for k, v in self.tokens.items() if v is None and k in env]:
            del env[variable]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "graphflow.app.cli", "serve", *self.args,
                 "--ingest", f"127.0.0.1:{self.ingest}", "--http", self.url[7:-1]],
                stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                preexec_fn=die_with_parent)
        assert self.process.stdout is not None
        self.printed = [self.process.stdout.readline(), self.process.stdout.readline()]
        assert self.printed[1].startswith("graphflow serve: open"), (self.printed, self.log)

    def stop(self) -> None:
        """Stops it as Ctrl-C does."""
        if self.process is not None:
            interrupt(self.process)
            assert self.process.stdout is not None
            self.process.stdout.close()


@contextlib.contextmanager
def serving(tmp_path: pathlib.Path, *args: str, token: str | None = None,
            admin_token: str | None = None) -> Iterator[Serve]:
    server = Serve(tmp_path / "serve.log", *args, token=token, admin_token=admin_token)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def sending(server: Serve, channel: str, source: pathlib.Path, fps: float,
            token: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``graphflow send`` of ``source`` (looped) to ``server`` until the block ends."""
    env = {**os.environ, "GRAPHFLOW_TOKEN": token or ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "graphflow.app.cli", "send", "--to",
         f"127.0.0.1:{server.ingest}", "--channel", channel, "--input", str(source), "--loop",
         "--fps", str(fps)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        preexec_fn=die_with_parent)
    try:
        yield process
    finally:
        interrupt(process)


def interrupt(process: subprocess.Popen[Any]) -> None:
    """Stops a child as Ctrl-C does (if it still runs)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def browser(tmp_path: pathlib.Path, url: str) -> AsyncIterator[Page]:
    if CHROMIUM is None:
        pytest.fail("these tests need Debian's chromium: run scripts/setup_debian.sh")
    profile = tmp_path / "chromium"
    profile.mkdir()
    async with Page(profile) as page:
        await page.goto(url)
        yield page


def card(name: str, part: str = "") -> str:
    """The selector of a channel's card (or of ``part`` inside it)."""
    return f'.card[data-name="{name}"] {part}'.strip()


async def text(page: Page, selector: str) -> str:
    value: str = await page.eval(f"document.querySelector({selector!r})?.textContent ?? ''")
    return value


async def click(page: Page, selector: str) -> None:
    await page.eval(f"document.querySelector({selector!r}).click()")


async def playing(page: Page, name: str, canvas: str) -> None:
    """Waits until the card's canvas shows frames."""
    meter = card(name, f".{canvas}-meter")
    await page.wait_for(f"document.querySelector({meter!r})?.textContent.includes('fps here')",
                        what=f"{name}: {canvas} frames drawn")


async def changed_pixels(page: Page, selector: str) -> float:
    """Mean absolute difference between two screenshots of an element, taken until they differ
    (a bound against hangs, not a timed assertion)."""
    first = (await page.pixels(selector)).astype(int)
    for _ in range(50):
        await asyncio.sleep(0.1)
        difference = float(np.abs((await page.pixels(selector)).astype(int) - first).mean())
        if difference > 0:
            return difference
    return 0.0


def center(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[h // 4: 3 * h // 4, w // 4: 3 * w // 4].astype(int)


def colourfulness(image: np.ndarray) -> float:
    """Mean |R - G| + |G - B| of the central half (0 for grey)."""
    part = center(image)
    return float((np.abs(part[..., 0] - part[..., 1]) + np.abs(part[..., 1] - part[..., 2])).mean())


async def save(page: Page, path: pathlib.Path) -> None:
    path.write_bytes(await page.screenshot())


async def enter_token(page: Page, value: str) -> None:
    """Waits for the token prompt and answers it."""
    await page.wait_for("document.querySelector('#token-dialog').open", what="the token prompt")
    await page.eval(f"""(() => {{
        document.querySelector('#token-input').value = {value!r};
        document.querySelector('#token-form').requestSubmit(); }})()""")


async def managed(session: aiohttp.ClientSession, server: Serve, name: str) -> dict[str, Any]:
    """``GET /streams/NAME``: the managed stream with its recent events."""
    async with session.get(server.url + f"streams/{name}") as response:
        stream: dict[str, Any] = await response.json()
        return stream


async def requested_restarts(session: aiohttp.ClientSession, server: Serve, name: str) -> int:
    """Restarts asked for (the Restart button, a script applied), from the stream's events."""
    events = (await managed(session, server, name))["events"]
    return sum(1 for e in events if e["type"] == "restarting" and e.get("requested"))


async def new_run_has_frames(session: aiohttp.ClientSession, server: Serve, name: str) -> None:
    """Waits until the run started last has processed frames (an eymo run closed before its
    first frame does not finish: see the report)."""
    frames = None
    for _ in range(300):
        stream = await managed(session, server, name)
        if stream["events"][-1]["type"] == "started" and frames is None:
            frames = stream["frames"]
        if frames is not None and stream["frames"] > frames + 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the restarted run took no frames")


async def add_stream(page: Page, name: str, graph: str, source: str, restart: str) -> None:
    """Fills in and submits the page's "add stream" form."""
    await click(page, "#add-open")
    await page.eval(f"""(() => {{
        const form = document.querySelector('#add-form');
        form.name.value = {name!r}; form.graph.value = {graph!r};
        form.source.value = {source!r}; form.restart.value = {restart!r};
        form.requestSubmit(); }})()""")


def test_streams_play_raw_and_processed_side_by_side_with_results(
        tmp_path: pathlib.Path, media: dict[str, pathlib.Path]) -> None:
    async def main() -> None:
        with serving(tmp_path, "face_detection") as server, \
                sending(server, "demo", media["clip"], 15), \
                sending(server, "still", media["still"], 10):
            async with browser(tmp_path, server.url) as page:
                for name in ("demo", "still"):
                    for canvas in ("raw", "processed"):
                        await playing(page, name, canvas)
                await page.wait_for(f"document.querySelector({card('still', '.json pre')!r})"
                                    ".textContent === '' && "
                                    f"document.querySelector({card('still', '.result-list')!r})"
                                    ".textContent.includes('1 detection')", what="results")
                moved = {canvas: await changed_pixels(page, card("demo", f"canvas.{canvas}"))
                         for canvas in ("raw", "processed")}
                raw = await page.pixels(card("still", "canvas.raw"))
                processed = await page.pixels(card("still", "canvas.processed"))
                await click(page, card("still", ".json summary"))
                shown = json.loads(await page.wait_for(
                    f"document.querySelector({card('still', '.json pre')!r}).textContent"))
                items = await page.eval(
                    f"[...document.querySelectorAll({card('still', '.detections li')!r})]"
                    ".map((li) => li.textContent)")
                # The figures come from the page's periodic /streams poll: wait for one made
                # after the processed frames began.
                await page.wait_for(" && ".join(
                    f"parseFloat(document.querySelector({card('still', '.' + key)!r})"
                    ".textContent) > 0" for key in ("fps-in", "fps-out", "fps-sender")),
                    what="stream figures")
                stats = {key: await text(page, card("still", f".{key}"))
                         for key in ("fps-in", "fps-out", "fps-sender", "viewers", "restarts")}
                badges = [await text(page, card(name, ".state")) for name in ("demo", "still")]
                await save(page, tmp_path / "console.png")
                errors = page.errors
        assert badges == ["live", "live"]
        assert moved["raw"] > 2 and moved["processed"] > 2, moved
        # The processed still differs from the raw one by the detection box drawn in red, and
        # that box is where the results shown say the face is.
        red = (np.abs(processed.astype(int) - raw.astype(int)).sum(axis=2) > 60) \
            & (processed[..., 0] > 150) & (processed[..., 1] < 90) & (processed[..., 2] < 90)
        ys, xs = np.nonzero(red)
        assert len(xs) > 100
        [detection] = shown["face_detections"]["value"]
        h, w = red.shape
        drawn = (xs.min() / w, ys.min() / h, (xs.max() - xs.min()) / w, (ys.max() - ys.min()) / h)
        expected = (detection["xmin"], detection["ymin"], detection["width"],
                    detection["height"])
        np.testing.assert_allclose(drawn, expected, atol=0.03)
        assert items == [f"score {detection['score']:.2f} · box x {detection['xmin']:.2f} "
                         f"y {detection['ymin']:.2f} w {detection['width']:.2f} "
                         f"h {detection['height']:.2f} · 6 keypoints"]
        assert float(stats["fps-in"]) > 0 and float(stats["fps-out"]) > 0
        assert float(stats["fps-sender"]) > 0  # measured from the frames' capture times
        assert stats["viewers"] == "1 / 1 / 1" and stats["restarts"] == "\u2013"  # none: pushed
        assert errors == []

    asyncio.run(main())


def test_a_managed_stream_is_added_scripted_restarted_and_removed(
        tmp_path: pathlib.Path, media: dict[str, pathlib.Path]) -> None:
    async def main() -> None:
        with serving(tmp_path, "face_detection", "--allow-local-sources") as server:
            async with browser(tmp_path, server.url) as page, aiohttp.ClientSession() as session:
                await page.wait_for("!document.querySelector('#empty').hidden", what="no streams")
                await add_stream(page, "fx", "eymo", str(media["long"]), "on_eos")
                await page.wait_for("!document.querySelector('#add-dialog').open")
                await playing(page, "fx", "processed")
                origin = await text(page, card("fx", ".origin"))
                await page.wait_for(f"!document.querySelector({card('fx', '.script-toggle')!r})"
                                    ".hidden", what="the script editor is offered")
                await click(page, card("fx", ".script-toggle"))
                script = await page.eval(f"document.querySelector({card('fx', 'textarea')!r})"
                                         ".value")

                async def apply(text_: str, status: str) -> None:
                    await page.eval(f"""(() => {{
                        const area = document.querySelector({card('fx', 'textarea')!r});
                        area.value = {text_!r}; area.dispatchEvent(new Event('input'));
                        document.querySelector({card('fx', '.apply')!r}).click(); }})()""")
                    await page.wait_for(f"document.querySelector({card('fx', '.script-status')!r})"
                                        f".textContent.startsWith({status!r})", what=status)

                await apply(MISTAKE, "not applied")
                error = await text(page, card("fx", ".script-errors"))
                marked = await text(page, card("fx", ".gutter mark"))
                await save(page, tmp_path / "console-script.png")
                await apply(GREY, "applied: the graph restarted")
                await page.wait_for(f"!document.querySelector({card('fx', 'canvas.processed')!r})"
                                    ".classList.contains('idle')")
                for _ in range(100):  # until the processed frames are grey
                    if colourfulness(await page.pixels(card("fx", "canvas.processed"))) < 4:
                        break
                    await asyncio.sleep(0.1)
                grey = await page.pixels(card("fx", "canvas.processed"))
                raw = await page.pixels(card("fx", "canvas.raw"))
                after_first = await requested_restarts(session, server, "fx")
                await apply(DARK, "applied live")
                for _ in range(100):  # until the processed frames are dark
                    dark = await page.pixels(card("fx", "canvas.processed"))
                    raw_now = await page.pixels(card("fx", "canvas.raw"))
                    if center(dark).mean() < 0.4 * center(raw_now).mean():
                        break
                    await asyncio.sleep(0.1)
                after_live = await requested_restarts(session, server, "fx")
                await click(page, card("fx", ".restart"))
                for _ in range(100):
                    if await requested_restarts(session, server, "fx") == after_live + 1:
                        break
                    await asyncio.sleep(0.1)
                after_button = await requested_restarts(session, server, "fx")
                restart_problem = await text(page, card("fx", ".problem"))  # if it failed
                await new_run_has_frames(session, server, "fx")
                await click(page, card("fx", ".remove"))
                first_click = await text(page, card("fx", ".remove"))
                await click(page, card("fx", ".remove"))
                await page.wait_for(f"!document.querySelector({card('fx')!r})", what="card gone")
                async with session.get(server.url + "streams") as response:
                    listed = await response.json()
                errors = page.errors
        assert origin.startswith(f"managed · {media['long']} · eymo")
        assert script == (resource_dir("examples") / "default.eymo").read_text()
        with pytest.raises(ParseError) as expected:
            parse(MISTAKE, "fx.eymo")
        assert error == f"2:{expected.value.column} {expected.value.message}"
        assert marked == "2"
        assert colourfulness(grey) < 4 < colourfulness(raw)
        assert center(dark).mean() < 0.4 * center(raw_now).mean()
        # The live edit: no restart; the button: one.
        assert (after_first, after_live, after_button) == (1, 1, 2), restart_problem
        assert first_click == "Really remove?"
        assert listed == []
        # The browser logs the answer to the script with a mistake as a failed load; no more.
        assert [(e["kind"], e["url"]) for e in errors] == [("log.network", f"{server.url}"
                                                            "streams/fx/script")], errors
        assert "422" in errors[0]["text"]

    asyncio.run(main())


def test_a_server_restart_shows_a_banner_and_the_page_recovers(
        tmp_path: pathlib.Path, media: dict[str, pathlib.Path]) -> None:
    async def main() -> None:
        with serving(tmp_path, "face_detection") as server, \
                sending(server, "demo", media["clip"], 15):
            async with browser(tmp_path, server.url) as page:
                await playing(page, "demo", "raw")
                assert await page.eval("document.querySelector('#banner').hidden")
                server.stop()
                await page.wait_for("!document.querySelector('#banner').hidden",
                                    what="the banner")
                banner = await text(page, "#banner-text")
                offline = await page.eval("document.body.classList.contains('offline')")
                await save(page, tmp_path / "console-disconnected.png")
                server.start()
                await page.wait_for("document.querySelector('#banner').hidden", timeout=60,
                                    what="the banner gone")
                await page.wait_for(f"document.querySelector({card('demo', '.state')!r})"
                                    ".textContent === 'live'", timeout=60, what="sender back")
                await playing(page, "demo", "raw")
                moved = await changed_pixels(page, card("demo", "canvas.raw"))
                errors = page.errors
        assert banner.startswith("Disconnected from the server since ")
        assert offline
        assert moved > 2
        # While the server was away the browser logged its failed requests; nothing else.
        assert errors and {e["kind"] for e in errors} == {"log.network"}, errors

    asyncio.run(main())


def test_a_channel_whose_sender_left_is_gone_however_many_watch(
        tmp_path: pathlib.Path, media: dict[str, pathlib.Path]) -> None:
    async def main() -> None:
        with serving(tmp_path, "face_detection", "--sender-timeout", "1") as server:
            async with browser(tmp_path, server.url) as page, aiohttp.ClientSession() as session:
                with sending(server, "demo", media["clip"], 15) as sender:
                    await playing(page, "demo", "processed")
                    async with session.get(server.url + "stream?name=demo") as other:
                        await other.content.readany()  # a second viewer, as another page
                        await page.wait_for(f"document.querySelector({card('demo', '.viewers')!r})"
                                            ".textContent.startsWith('2 /')")
                        interrupt(sender)
                        await page.wait_for(f"document.querySelector({card('demo', '.state')!r})"
                                            ".textContent === 'sender away'")
                        await save(page, tmp_path / "console-away.png")
                        await page.wait_for(
                            f"document.querySelector({card('demo')!r}).classList"
                            ".contains('gone')", what="shown as gone")
                        ended = await other.content.read()  # the server ended this viewer too
                state = await text(page, card("demo", ".state"))
                dismiss = await page.eval(f"!document.querySelector({card('demo', '.dismiss')!r})"
                                          ".hidden")
                async with session.get(server.url + "streams") as response:
                    listed = await response.json()
                await save(page, tmp_path / "console-gone.png")
                errors = page.errors
        assert state == "gone" and dismiss
        assert isinstance(ended, bytes) and listed == []
        assert errors == []

    asyncio.run(main())


def test_a_wrong_token_prompts_again_and_the_token_stays_out_of_urls(
        tmp_path: pathlib.Path, media: dict[str, pathlib.Path]) -> None:
    token = "s3cret-token"

    async def main() -> None:
        with serving(tmp_path, "face_detection", token=token) as server, \
                sending(server, "demo", media["clip"], 15, token=token):
            async with browser(tmp_path, server.url) as page:
                await enter_token(page, "wrong")
                await page.wait_for("document.querySelector('#token-reason').textContent",
                                    what="the refusal")
                refusal = await text(page, "#token-reason")
                await save(page, tmp_path / "console-token.png")
                await enter_token(page, token)
                await playing(page, "demo", "processed")
                await page.goto(server.url)  # a reload keeps the tab's token
                await playing(page, "demo", "raw")
                prompted = await page.eval("document.querySelector('#token-dialog').open")
                stored = await page.eval("sessionStorage.getItem('graphflow.token')")
                urls: list[Any] = await page.eval(
                    "performance.getEntriesByType('resource').map((e) => e.name)")
                feeds = await page.eval("feed.socket.url")
                errors = page.errors
        assert server.printed[1].strip() == (
            f"graphflow serve: open {server.url} in a browser for the console; it asks for the "
            "token (the one given to --token or in $GRAPHFLOW_TOKEN) and keeps it in that "
            "browser tab only")
        assert refusal.startswith("The server refused the token: wrong or missing token")
        assert not prompted and stored == token
        assert f"{server.url}streams" in urls and feeds == f"ws{server.url[4:]}console/feed"
        assert not [url for url in urls if token in url]
        assert not [e for e in errors if token in json.dumps(e)]
        # The refused requests were logged by the browser as failed loads (401), nothing else.
        assert {e["kind"] for e in errors} == {"log.network"}, errors
        assert all("401" in e["text"] for e in errors), errors

    asyncio.run(main())


def test_changing_streams_asks_for_the_admin_token(tmp_path: pathlib.Path) -> None:
    token, admin = "viewer-token", "admin-token"

    async def main() -> None:
        with serving(tmp_path, "face_detection", token=token, admin_token=admin) as server:
            async with browser(tmp_path, server.url) as page, \
                    aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
                await enter_token(page, token)
                await page.wait_for("!document.querySelector('#empty').hidden", what="no streams")
                await add_stream(page, "dm", "face_detection", "demo", "always")
                await page.wait_for("document.querySelector('#token-title').textContent"
                                    ".includes('admin')", what="the admin token prompt")
                title = await text(page, "#token-title")
                refusal = await text(page, "#token-reason")
                adding = await page.eval("document.querySelector('#add-dialog').open")
                await enter_token(page, admin)
                await page.wait_for("!document.querySelector('#add-dialog').open",
                                    what="the stream added")
                await playing(page, "dm", "processed")
                await new_run_has_frames(session, server, "dm")
                await click(page, card("dm", ".restart"))
                for _ in range(100):
                    if await requested_restarts(session, server, "dm") == 1:
                        break
                    await asyncio.sleep(0.1)
                restarted = await requested_restarts(session, server, "dm")
                prompted = await page.eval("document.querySelector('#token-dialog').open")
                await new_run_has_frames(session, server, "dm")
                await click(page, card("dm", ".remove"))
                await click(page, card("dm", ".remove"))
                await page.wait_for(f"!document.querySelector({card('dm')!r})", what="card gone")
                async with session.get(server.url + "streams") as response:
                    listed = await response.json()
                stored = await page.eval("[sessionStorage.getItem('graphflow.token'), "
                                         "sessionStorage.getItem('graphflow.adminToken')]")
                errors = page.errors
        assert server.printed[1].strip().endswith(
            "; changing streams asks for the admin token (the one given to --admin-token or in "
            "$GRAPHFLOW_ADMIN_TOKEN), kept in that browser tab only")
        assert title == "This action needs the admin token"
        assert refusal.startswith("The server refused the token: wrong or missing token")
        assert adding  # the form stays open while the token is asked for
        assert restarted == 1 and not prompted  # the admin token is kept for the next action
        assert listed == []
        assert stored == [token, admin]
        # The browser logged as failed loads the refused requests (401: the first /streams,
        # the first POST) and the question whether the graph draws an eymo script (409: no).
        failed = sorted((e["kind"], e["url"].removeprefix(server.url), e["text"].split(
            "status of ")[1][:3]) for e in errors)
        assert failed == [("log.network", "streams", "401")] * 2 + [
            ("log.network", "streams/dm/script", "409")], errors

    asyncio.run(main())
