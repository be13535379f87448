"""A headless Chromium (Debian's ``chromium``) driven through the DevTools protocol.

A small client: JSON messages over the page target's websocket (aiohttp), replies matched by
id, events kept as they come: console messages, uncaught exceptions and the browser's own log
(failed loads) go to :attr:`Page.errors`.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import itertools
import os
import pathlib
import shutil
import signal
import subprocess
import time
from typing import Any

import aiohttp
import cv2
import numpy as np

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""The browser executable (``apt-get install chromium``; scripts/setup_debian.sh installs it)."""


def die_with_parent() -> None:
    """``preexec_fn`` of test children: the kernel ends them when the test process ends, even
    one killed before its cleanup ran (Linux ``PR_SET_PDEATHSIG``)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class BrowserError(Exception):
    """The browser could not be started, or a DevTools call failed."""


class Page:
    """One headless Chromium with one page; ``async with Page(profile) as page``.

    Args:
        profile: An empty folder for the browser's profile (and its stderr, ``chromium.log``).
        width: Window width in CSS pixels.
        height: Window height.
    """

    def __init__(self, profile: pathlib.Path, width: int = 1400, height: int = 1000) -> None:
        self.profile = profile
        self.size = (width, height)
        self.errors: list[dict[str, Any]] = []
        """Console errors and warnings, uncaught exceptions and failed loads, in order."""
        self._process: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Event] = {}

    async def __aenter__(self) -> Page:
        if CHROMIUM is None:
            raise BrowserError("no chromium executable: run scripts/setup_debian.sh")
        args = [CHROMIUM, "--headless=new", "--disable-gpu", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}",
                "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                "--force-device-scale-factor=1", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        with open(self.profile / "chromium.log", "wb") as log:
            self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log,
                                             preexec_fn=die_with_parent)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self._process.poll() is not None or time.monotonic() > deadline:
                await self.close()
                raise BrowserError(f"chromium did not start; see {self.profile}/chromium.log")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            [target] = [t for t in await response.json() if t["type"] == "page"]
        self._ws = await self._session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Ends the browser (the process this object started)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        if self._session is not None:
            await self._session.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                await asyncio.to_thread(self._process.wait, 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if "id" in data:
                future = self._replies.pop(data["id"])
                if not future.done():
                    future.set_result(data)
                continue
            method, params = data["method"], data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning",
                                                                             "assert"):
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in params["args"])
                self.errors.append({"kind": f"console.{params['type']}", "text": text})
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description", details["text"])
                self.errors.append({"kind": "exception", "text": text})
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                entry = params["entry"]
                self.errors.append({"kind": f"log.{entry['source']}", "text": entry["text"],
                                    "url": entry.get("url", "")})
            if method in self._events:
                self._events[method].set()
        for future in self._replies.values():
            future.set_exception(BrowserError("the browser closed the connection"))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools call; its ``result``.

        Raises:
            BrowserError: With the protocol's error message.
        """
        assert self._ws is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = future
        await self._ws.send_json({"id": ident, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        result: dict[str, Any] = reply["result"]
        return result

    async def goto(self, url: str) -> None:
        """Opens ``url`` and waits for its load event."""
        loaded = self._events["Page.loadEventFired"] = asyncio.Event()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 30)

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises are awaited).

        Raises:
            BrowserError: If it throws.
        """
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: "
                               f"{details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0, what: str = "") -> Any:
        """Evaluates ``expression`` until it is truthy; returns that value.

        Raises:
            AssertionError: If it is not within ``timeout`` seconds (a bound against hangs).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {timeout} s: {what or expression}")
            await asyncio.sleep(0.1)

    async def screenshot(self, selector: str | None = None) -> bytes:
        """A PNG of the page's viewport, or of the element ``selector`` matches."""
        params: dict[str, Any] = {"format": "png"}
        if selector is not None:
            rect = await self.eval(
                f"(() => {{ const r = document.querySelector({selector!r})"
                ".getBoundingClientRect(); return {x: r.x + scrollX, y: r.y + scrollY, "
                "width: r.width, height: r.height}; })()")
            params.update(clip={**rect, "scale": 1}, captureBeyondViewport=True)
        data = (await self.send("Page.captureScreenshot", **params))["data"]
        return base64.b64decode(data)

    async def pixels(self, selector: str) -> np.ndarray:
        """The element's pixels as shown, RGB ``uint8``."""
        png = await self.screenshot(selector)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise BrowserError(f"the screenshot of {selector!r} is not a PNG")
        return np.ascontiguousarray(image[..., ::-1])
