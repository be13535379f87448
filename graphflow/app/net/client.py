"""Reading the stream server's HTTP outputs from Python (aiohttp responses).

Example:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/face_stream?name=cam1") as response:
            async for frame in mjpeg_frames(response):
                image = jpeg.decode(frame.jpeg)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from graphflow.app.net.protocol import Frame


async def mjpeg_frames(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """The parts of a ``multipart/x-mixed-replace`` JPEG stream, as they arrive.

    Each part needs ``Content-Length``; its ``X-Timestamp`` header (0 if absent) becomes
    ``Frame.timestamp``.

    Raises:
        ValueError: If the response is not a multipart stream or a part is malformed.
    """
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/x-mixed-replace") or "boundary=" not in \
            content_type:
        raise ValueError(f"not an MJPEG stream: Content-Type {content_type!r}")
    delimiter = b"--" + content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    stream = response.content
    while True:
        line = await stream.readline()
        while line in (b"\r\n", b"\n"):
            line = await stream.readline()
        if not line or line.rstrip() == delimiter + b"--":
            return
        if line.rstrip() != delimiter:
            raise ValueError(f"expected the part delimiter {delimiter!r}, got {line[:80]!r}")
        headers: dict[str, str] = {}
        while (line := await stream.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ValueError(f"MJPEG part without Content-Length (headers {headers})")
        data = await stream.readexactly(int(headers["content-length"]))
        yield Frame(int(headers.get("x-timestamp", 0)), data)


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON ``data:`` of each server-sent event (comments and other fields are skipped)."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            yield json.loads("\n".join(data))
            data = []
