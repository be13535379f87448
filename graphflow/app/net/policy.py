"""Who may do what on ``graphflow serve``: tokens, Host and Origin, graphs and sources.

:class:`Access` holds the server's access settings (``--token``, ``--admin-token``,
``--allowed-hosts``, ``--graphs-dir``, ``--allow-local-sources``, ``--allow-private-hosts``) and
decides:

- whether a token matches (in constant time; any text, even one that is not valid UTF-8, is
  only ever a wrong token);
- whether an HTTP request's ``Host`` and ``Origin`` are ones the server answers (against DNS
  rebinding and cross-site requests);
- which graph file a stream may run: a bundled graph's name, or a file under ``--graphs-dir``;
- which sources a stream may pull: network streams on public hosts, and ``demo``, unless the
  flags allow local sources (files, folders, cameras, raw sockets) or private hosts.

Refusals raise :class:`RefusedError` with a message that names the flag that would allow the
request, and that is the same whether a refused file exists or not.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import pathlib
import re
import socket
import urllib.parse

from graphflow.app.io.urls import NETWORK_SCHEMES, redact_urls
from graphflow.resources import bundled_graphs, resource_dir

logger = logging.getLogger(__name__)

ALWAYS_ALLOWED_SOURCES = ("push", "demo")
"""Sources every stream may use: frames pushed by ``graphflow send``, and the bundled clip."""
LISTEN_KEYS = ("listen", "mode", "localaddr", "localport")
"""Query options with which FFmpeg would listen or bind locally instead of connecting."""

_GRAPH_NAME = re.compile(r"[A-Za-z0-9_]+(\.pbtxt)?")


class RefusedError(ValueError):
    """A request that the server's access settings do not allow."""


def token_bytes(text: str) -> bytes:
    """A token as bytes, for any ``str`` (lone surrogates from JSON or from undecodable header
    bytes included), so that comparing never raises."""
    return text.encode("utf-8", "surrogatepass")


@dataclasses.dataclass(frozen=True)
class Access:
    """The server's access settings.

    Attributes:
        token: What senders and viewers present (None: no authentication).
        admin_token: What stream administration (``POST`` and ``DELETE /streams``) needs
            (None: the same as ``token``).
        allowed_hosts: Host names the HTTP server answers to besides IP addresses and
            ``localhost`` (``*``: any).
        graphs_dir: Graph files under this folder may be run by managed streams (besides the
            bundled graphs).
        allow_local_sources: Managed streams may read files, folders, cameras and raw sockets.
        allow_private_hosts: Network sources may be on loopback, private and link-local hosts.
    """

    token: str | None = None
    admin_token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    graphs_dir: pathlib.Path | None = None
    allow_local_sources: bool = False
    allow_private_hosts: bool = False

    # ------------------------------------------------------------------ tokens

    def viewer_ok(self, offered: str | None) -> bool:
        """True if ``offered`` may send or watch (the admin token may too)."""
        if self.token is None:
            return True
        return _matches(offered, self.token) or _matches(offered, self.admin_token)

    def admin_ok(self, offered: str | None) -> bool:
        """True if ``offered`` may administer streams."""
        token = self.admin_token if self.admin_token is not None else self.token
        return token is None or _matches(offered, token)

    # ------------------------------------------------------------------ Host and Origin

    def host_ok(self, host: str | None) -> bool:
        """True if a request's ``Host`` header is one the server answers to.

        An IP address or ``localhost`` always is: a page that DNS rebinding pointed at the
        server still sends its own host name, which must then be in ``allowed_hosts``.
        A request without the header (HTTP/1.0) is not from a browser and passes.
        """
        if host is None:
            return True
        name = _host_name(host)
        if name is None:
            return False
        if name == "localhost" or "*" in self.allowed_hosts or \
                name in (h.lower() for h in self.allowed_hosts):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """True if a request's ``Origin`` (sent by browsers) is the server's own page: the same
        host and port as the request's ``Host``, or a host in ``allowed_hosts``."""
        if origin is None:
            return True
        parsed = urllib.parse.urlsplit(origin)
        if not parsed.scheme or not parsed.netloc:
            return False  # "null" and other opaque origins
        if host is not None and parsed.netloc.lower() == host.lower():
            return True
        name = _host_name(parsed.netloc)
        return name is not None and ("*" in self.allowed_hosts or
                                     name in (h.lower() for h in self.allowed_hosts))

    # ------------------------------------------------------------------ graphs

    def graph_file(self, name: str) -> pathlib.Path:
        """The graph file a managed stream names: a bundled graph, or a file under
        ``graphs_dir``.

        Raises:
            RefusedError: For anything else (the message does not say whether it exists).
        """
        if _GRAPH_NAME.fullmatch(name):
            bundled = resource_dir("graphs") / (name if name.endswith(".pbtxt")
                                                else f"{name}.pbtxt")
            if bundled.is_file():
                return bundled
        if self.graphs_dir is not None:
            folder = self.graphs_dir.resolve()
            candidate = (folder / name).resolve()  # an absolute name replaces the folder
            if candidate.is_relative_to(folder) and candidate.is_file():
                return candidate
        where = f"a file under --graphs-dir {self.graphs_dir}" if self.graphs_dir is not None \
            else "a file under --graphs-dir (none is set)"
        raise RefusedError(f"graph {name!r} is neither a bundled graph "
                           f"({', '.join(bundled_graphs())}) nor {where}")

    # ------------------------------------------------------------------ sources

    def check_source(self, source: str) -> None:
        """Checks what a managed stream pulls, without looking anything up.

        ``push`` and ``demo`` always pass; network streams (rtsp, rtsps, rtmp, rtmps, srt,
        http, https) need a host, and one given as an IP address must be public unless
        private hosts are allowed; anything else (a file, folder, camera, ``tcp://`` or
        ``udp://``) needs ``allow_local_sources``.

        Raises:
            RefusedError: Naming the flag that would allow it.
        """
        if source in ALWAYS_ALLOWED_SOURCES:
            return
        scheme, sep, _ = source.partition("://")
        if not sep or scheme.lower() not in NETWORK_SCHEMES:
            if not self.allow_local_sources:
                raise RefusedError(
                    f"source {redact_urls(source)!r}: only network streams "
                    f"({', '.join(NETWORK_SCHEMES)}), push and demo are allowed; files, "
                    "folders, cameras and raw sockets need --allow-local-sources")
            return
        parsed = urllib.parse.urlsplit(source)
        listening = sorted({key.lower() for key in urllib.parse.parse_qs(parsed.query)}
                           & set(LISTEN_KEYS))
        if listening and not self.allow_local_sources:
            raise RefusedError(f"source {redact_urls(source)!r}: options {listening} would make "
                               "the server listen or bind; allowed with --allow-local-sources")
        try:
            host = parsed.hostname
        except ValueError:
            host = None
        if not host:
            raise RefusedError(f"source {redact_urls(source)!r} names no host")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return  # a name: checked once resolved (check_source_host)
        self._check_address(source, address)

    def check_source_host(self, source: str) -> None:
        """Resolves a network source's host name and checks every address it has (blocking).

        Called before each open of the source, so that a name that later resolves to a
        private address is caught then. (OpenCV resolves the name again when it connects; a
        DNS server that answers differently within that moment is not caught.)

        Raises:
            RefusedError: If an address is not public and private hosts are not allowed.
            ValueError: If the name does not resolve.
        """
        if self.allow_private_hosts or not self.needs_lookup(source):
            return
        host = urllib.parse.urlsplit(source).hostname
        assert host is not None
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise ValueError(f"source {redact_urls(source)!r}: cannot resolve {host!r} "
                             f"({exc})") from None
        for info in infos:
            self._check_address(source, ipaddress.ip_address(info[4][0]))

    @staticmethod
    def needs_lookup(source: str) -> bool:
        """True if the source is a network stream whose host is a name (not an IP address)."""
        if source.partition("://")[0].lower() not in NETWORK_SCHEMES:
            return False
        try:
            host = urllib.parse.urlsplit(source).hostname
        except ValueError:
            return False
        if not host:
            return False
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return True
        return False

    def _check_address(self, source: str, address: ipaddress.IPv4Address |
                       ipaddress.IPv6Address) -> None:
        if self.allow_private_hosts:
            return
        mapped = getattr(address, "ipv4_mapped", None)
        checked = mapped if mapped is not None else address
        if not checked.is_global or checked.is_multicast:
            raise RefusedError(f"source {redact_urls(source)!r}: {address} is not a public "
                               "address (loopback, private, link-local and reserved hosts need "
                               "--allow-private-hosts)")


def _matches(offered: str | None, token: str | None) -> bool:
    return offered is not None and token is not None and \
        hmac.compare_digest(token_bytes(offered), token_bytes(token))


def _host_name(host: str) -> str | None:
    """The host name of a ``Host`` value or URL authority (``[::1]:8080`` -> ``::1``)."""
    try:
        parsed = urllib.parse.urlsplit(f"//{host}")
        return parsed.hostname
    except ValueError:
        return None
