"""Stream URLs as sources: which schemes are network streams, and URLs with secrets removed.

A camera URL often carries credentials (``rtsp://user:password@cam/live``) or a key in its query
(``https://host/live.m3u8?token=...``). :func:`redact_urls` replaces them with ``***`` in any
text, so that logs, events and API responses can name a source without revealing them.
"""

from __future__ import annotations

import re

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "http", "https")
"""Schemes of network streams that a client connects to (OpenCV reads them through FFmpeg)."""
SOCKET_SCHEMES = ("udp", "tcp")
"""Raw socket schemes, which can also listen (``tcp://0.0.0.0:9000?listen=1``)."""

SECRET_KEYS = ("token", "key", "apikey", "api_key", "access_token", "auth", "password", "pass",
               "passwd", "pwd", "secret", "sig", "signature", "credential", "credentials")
"""Query parameters whose values :func:`redact_urls` hides (compared without case)."""

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(SECRET_KEYS) + r")=)(?P<value>[^&;#\s'\"]*)", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``.

    The user information of a URL goes whole (``rtsp://***@cam/live``: a user name alone can be
    a token), and so do the values of query parameters named like secrets (:data:`SECRET_KEYS`).
    """
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _QUERY_SECRET.sub(r"\g<key>***", text)
