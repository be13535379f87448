"""The graphflow-stream/1 framing, checked byte by byte."""

from __future__ import annotations

import asyncio
import json
import struct

import numpy as np
import pytest

from graphflow.app.net import jpeg
from graphflow.app.net.protocol import (
    MSG_FRAME,
    MSG_HELLO,
    Hello,
    ProtocolError,
    decode_frame,
    encode_frame,
    read_message,
    validate_channel,
)

pytestmark = pytest.mark.timeout(10)


def read_all(data: bytes, max_payload: int = 1000) -> list[tuple[int, bytes] | None]:
    """Every message of ``data`` (then None for the clean end), as the server reads them."""

    async def main() -> list[tuple[int, bytes] | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        out: list[tuple[int, bytes] | None] = []
        while True:
            message = await read_message(reader, max_payload)
            out.append(message)
            if message is None:
                return out

    return asyncio.run(main())


def test_frame_layout() -> None:
    data = encode_frame(0x0102030405060708, b"\xff\xd8jpeg")
    assert data == (struct.pack(">I", 1 + 8 + 6) + bytes([0x10]) +
                    bytes([1, 2, 3, 4, 5, 6, 7, 8]) + b"\xff\xd8jpeg")
    assert read_all(data) == [(MSG_FRAME, data[5:]), None]
    assert decode_frame(data[5:]) == (0x0102030405060708, b"\xff\xd8jpeg")


def test_hello_round_trip_and_json_fields() -> None:
    hello = Hello("cam-1.left_2", 640, 480, 29.97, token="t")
    data = hello.encode()
    message, end = read_all(data)
    assert message is not None and end is None
    kind, payload = message
    assert kind == MSG_HELLO
    assert json.loads(payload) == {"protocol": "graphflow-stream/1", "channel": "cam-1.left_2",
                                   "width": 640, "height": 480, "fps": 29.97, "token": "t"}
    assert Hello.decode(payload) == hello
    assert "token" not in json.loads(Hello("c", 1, 1).encode()[5:])


@pytest.mark.parametrize(("body", "message"), [
    (b"[1]", "must be a JSON object"),
    (b"\xff", "not UTF-8 JSON"),
    (b'{"protocol": "other/2"}', "protocol 'other/2'"),
    (b'{"protocol": "graphflow-stream/1", "channel": "a b", "width": 1, "height": 1}',
     "invalid channel name 'a b'"),
    (b'{"protocol": "graphflow-stream/1", "channel": "a", "width": 0, "height": 1}',
     "width and height must be integers in 1..65535, got 0 x 1"),
    (b'{"protocol": "graphflow-stream/1", "channel": "a", "width": true, "height": 1}',
     "got True x 1"),
    (b'{"protocol": "graphflow-stream/1", "channel": "a", "width": 2, "height": 1, "fps": "x"}',
     "fps must be a number"),
    (b'{"protocol": "graphflow-stream/1", "channel": "a", "width": 2, "height": 1, "token": 3}',
     "token must be a string"),
    (b"[" * 60000, "payload nests too deeply"),
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "payload nests too deeply"),
])
def test_bad_hello_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match="HELLO: .*" + message.replace(".", r"\.")
                       .replace("(", r"\(").replace("[", r"\[")):
        Hello.decode(body)


@pytest.mark.parametrize("name", ["a", "Cam_1", "x.y-z", "9" * 64])
def test_valid_channel_names(name: str) -> None:
    assert validate_channel(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".hidden", "a/b", "a b", "é", "9" * 65, None, 3])
def test_invalid_channel_names(name: object) -> None:
    with pytest.raises(ValueError, match="invalid channel name"):
        validate_channel(name)


def test_oversized_message_is_refused_from_its_header() -> None:
    header_only = struct.pack(">IB", 1 + 1001, MSG_FRAME)  # no payload follows at all
    with pytest.raises(ProtocolError, match="FRAME message of 1001 bytes exceeds the cap of 1000"):
        read_all(header_only)
    assert read_all(struct.pack(">IB", 1 + 1000, 0x20) + b"x" * 1000)[0] == (0x20, b"x" * 1000)


@pytest.mark.parametrize(("data", "message"), [
    (struct.pack(">IB", 0, 1), "message length 0"),
    (b"\x00\x00", "inside a message header \\(2 of 5 bytes\\)"),
    (struct.pack(">IB", 11, 1) + b"abc", "inside a message \\(3 of 10 payload bytes\\)"),
])
def test_broken_framing(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        read_all(data)


def test_frame_without_jpeg_bytes() -> None:
    with pytest.raises(ProtocolError, match="payload of 8 bytes holds no JPEG"):
        decode_frame(b"\x00" * 8)


def test_jpeg_over_the_pixel_cap_is_refused_from_its_header() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    data = jpeg.encode(image, 90)
    assert jpeg.decode(data, 64 * 48).shape == (48, 64, 3)
    with pytest.raises(ValueError, match=r"64x48 = 3072 pixels, over the cap of 3071"):
        jpeg.decode(data, 64 * 48 - 1)
