"""The ingest wire protocol of ``graphflow send`` / ``graphflow serve`` (``graphflow-stream/1``).

A sender opens one TCP connection per channel and writes length-prefixed messages::

    message  = length:uint32be  kind:uint8  payload[length - 1]
    HELLO    kind 0x01  sender -> server  UTF-8 JSON object, at most 64 KiB
    WELCOME  kind 0x02  server -> sender  UTF-8 JSON object ``{"ok": true}``
    ERROR    kind 0x03  server -> sender  UTF-8 JSON ``{"error": text, "retry": bool}``; then close
    FRAME    kind 0x10  sender -> server  timestamp:int64be (capture time, microseconds since the
                                          Unix epoch) followed by one baseline/progressive JPEG

The first message must be a HELLO (``protocol``, ``channel``, ``width``, ``height``, ``fps`` and an
optional ``token``); the server answers WELCOME or ERROR. Frame timestamps strictly increase
within a connection. A message that breaks these rules, or a FRAME whose JPEG exceeds the
server's size cap, ends that connection (the server says why in an ERROR first). See
``docs/streams.md`` for the full description.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

PROTOCOL = "graphflow-stream/1"
MSG_HELLO = 0x01
MSG_WELCOME = 0x02
MSG_ERROR = 0x03
MSG_FRAME = 0x10
MESSAGE_NAMES = {MSG_HELLO: "HELLO", MSG_WELCOME: "WELCOME", MSG_ERROR: "ERROR",
                 MSG_FRAME: "FRAME"}

DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_CONTROL_BYTES = 64 * 1024
TOKEN_ENV = "GRAPHFLOW_TOKEN"
"""The environment variable that holds the shared token of senders, viewers and the server."""
ADMIN_TOKEN_ENV = "GRAPHFLOW_ADMIN_TOKEN"
"""The environment variable that holds the token of stream administration."""
CHANNEL_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
"""A valid channel name, as a regular expression (see :func:`validate_channel`)."""

_HEADER = struct.Struct("!IB")
_TIMESTAMP = struct.Struct("!q")
_CHANNEL_RE = re.compile(CHANNEL_PATTERN)


class Frame(NamedTuple):
    """A JPEG frame and its capture time (microseconds since the Unix epoch)."""

    timestamp: int
    jpeg: bytes


class ProtocolError(Exception):
    """A peer broke the wire protocol (bad length, kind, JSON, field or order)."""


def message_name(kind: int) -> str:
    """A message kind's name (``HELLO``...), or ``kind 0xNN`` for an unknown one."""
    return MESSAGE_NAMES.get(kind, f"kind 0x{kind:02x}")


def validate_channel(name: object) -> str:
    """Checks a channel name: 1-64 characters of ``A-Z a-z 0-9 _ . -``, starting alphanumeric.

    Returns:
        The name.

    Raises:
        ValueError: Saying what is wrong with the name.
    """
    if not isinstance(name, str) or not _CHANNEL_RE.fullmatch(name):
        raise ValueError(f"invalid channel name {name!r}: use 1-64 characters of A-Z a-z 0-9 _ . -"
                         ", starting with a letter or digit")
    return name


@dataclasses.dataclass(frozen=True)
class Hello:
    """The first message of a sender: what it sends and under which channel name.

    Attributes:
        channel: The channel name (see :func:`validate_channel`).
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: The sender's nominal frame rate (0 if unknown).
        token: The shared token, when the server asks for one.
    """

    channel: str
    width: int
    height: int
    fps: float = 0.0
    token: str | None = None

    def encode(self) -> bytes:
        """The HELLO message, framed."""
        body: dict[str, Any] = {"protocol": PROTOCOL, "channel": self.channel,
                                "width": self.width, "height": self.height, "fps": self.fps}
        if self.token is not None:
            body["token"] = self.token
        return encode_json(MSG_HELLO, body)

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        """Parses a HELLO payload.

        Raises:
            ProtocolError: Naming the field that is missing or wrong.
        """
        body = decode_json(payload, "HELLO")
        if body.get("protocol") != PROTOCOL:
            raise ProtocolError(f"HELLO: protocol {body.get('protocol')!r} is not {PROTOCOL!r}")
        try:
            channel = validate_channel(body.get("channel"))
        except ValueError as exc:
            raise ProtocolError(f"HELLO: {exc}") from None
        width, height = body.get("width"), body.get("height")
        if not (type(width) is int and type(height) is int and 0 < width <= 65535
                and 0 < height <= 65535):
            raise ProtocolError("HELLO: width and height must be integers in 1..65535, got "
                                f"{width!r} x {height!r}")
        fps = body.get("fps", 0.0)
        if type(fps) not in (int, float) or not 0 <= fps <= 1000:
            raise ProtocolError(f"HELLO: fps must be a number in 0..1000, got {fps!r}")
        token = body.get("token")
        if token is not None and not isinstance(token, str):
            raise ProtocolError("HELLO: token must be a string")
        return cls(channel, width, height, float(fps), token)


def encode_message(kind: int, payload: bytes) -> bytes:
    """One framed message: ``length:uint32be kind:uint8 payload``."""
    return _HEADER.pack(len(payload) + 1, kind) + payload


def encode_json(kind: int, body: dict[str, Any]) -> bytes:
    """A framed message whose payload is a JSON object."""
    return encode_message(kind, json.dumps(body, separators=(",", ":")).encode())


def decode_json(payload: bytes, what: str) -> dict[str, Any]:
    """The JSON object of a control message.

    Raises:
        ProtocolError: If the payload is not a UTF-8 JSON object.
    """
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"{what}: payload is not UTF-8 JSON ({exc})") from None
    except RecursionError:  # json raises it for deeply nested arrays or objects
        raise ProtocolError(f"{what}: payload nests too deeply") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"{what}: payload must be a JSON object, got {type(body).__name__}")
    return body


def encode_frame(timestamp_us: int, jpeg: bytes) -> bytes:
    """A framed FRAME message for a JPEG captured at ``timestamp_us`` (Unix epoch, us)."""
    return _HEADER.pack(len(jpeg) + 1 + _TIMESTAMP.size, MSG_FRAME) + \
        _TIMESTAMP.pack(timestamp_us) + jpeg


def decode_frame(payload: bytes) -> tuple[int, bytes]:
    """Splits a FRAME payload into ``(timestamp_us, jpeg)``.

    Raises:
        ProtocolError: If the payload is too short to hold a timestamp and a JPEG.
    """
    if len(payload) <= _TIMESTAMP.size:
        raise ProtocolError(f"FRAME: payload of {len(payload)} bytes holds no JPEG")
    return _TIMESTAMP.unpack_from(payload)[0], payload[_TIMESTAMP.size:]


async def read_message(reader: asyncio.StreamReader, max_payload: int,
                       reserve: Callable[[int], None] | None = None
                       ) -> tuple[int, bytes] | None:
    """Reads one message, refusing payloads over ``max_payload`` bytes before reading them.

    Args:
        reader: The connection.
        max_payload: The largest payload accepted.
        reserve: Called with the payload's length before the payload is read (to account for
            the memory it will take); may raise ProtocolError to refuse it.

    Returns:
        ``(kind, payload)``, or None when the peer closed the connection between messages.

    Raises:
        ProtocolError: For an empty or oversized message, or a connection cut mid-message.
    """
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError(f"connection closed inside a message header "
                            f"({len(exc.partial)} of {_HEADER.size} bytes)") from None
    length, kind = _HEADER.unpack(header)
    if length == 0:
        raise ProtocolError("message length 0 (it must count the kind byte)")
    if length - 1 > max_payload:
        raise ProtocolError(f"{message_name(kind)} message of {length - 1} bytes exceeds the "
                            f"cap of {max_payload} bytes")
    if reserve is not None:
        reserve(length - 1)
    try:
        payload = await reader.readexactly(length - 1)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError(f"connection closed inside a message ({len(exc.partial)} of "
                            f"{length - 1} payload bytes)") from None
    return kind, payload
