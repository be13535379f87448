"""Access settings of graphflow serve: tokens, Host and Origin, graphs, sources, redaction."""

from __future__ import annotations

import pathlib

import pytest

from graphflow.app.io.urls import redact_urls
from graphflow.app.net.policy import Access, RefusedError
from graphflow.resources import resource_dir


@pytest.mark.parametrize(("text", "shown"), [
    ("rtsp://user:pass@cam/live", "rtsp://***@cam/live"),
    ("rtsp://tok3n@cam:554/x", "rtsp://***@cam:554/x"),
    ("https://h/live.m3u8?token=abc&q=1", "https://h/live.m3u8?token=***&q=1"),
    ("http://h/x?API_KEY=k;sig=s#f", "http://h/x?API_KEY=***;sig=***#f"),
    ("OpenCV cannot open 'rtsp://a:b@10.0.0.5/x?password=p' (no such camera?)",
     "OpenCV cannot open 'rtsp://***@10.0.0.5/x?password=***' (no such camera?)"),
    ("http://host/path?channel=1", "http://host/path?channel=1"),
    ("demo", "demo"),
    ("mailto-like user@example.com text", "mailto-like user@example.com text"),
])
def test_secrets_are_redacted_from_urls(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


def test_tokens_compare_any_text_without_raising() -> None:
    access = Access(token="viewer", admin_token="admin")
    assert access.viewer_ok("viewer") and access.viewer_ok("admin")
    assert not access.viewer_ok(None) and not access.viewer_ok("\ud800")
    assert not access.viewer_ok("\udcff\udcfe")  # header bytes \xff\xfe, surrogate-escaped
    assert access.admin_ok("admin") and not access.admin_ok("viewer")
    only = Access(token="t")
    assert only.admin_ok("t") and not only.admin_ok("x")  # no admin token: the token
    assert Access().viewer_ok(None) and Access().admin_ok(None)


@pytest.mark.parametrize(("host", "ok"), [
    (None, True), ("127.0.0.1:8080", True), ("[::1]:8080", True), ("localhost:8080", True),
    ("192.168.1.20", True), ("LOCALHOST", True), ("cams.example.org", True),
    ("evil.example", False), ("cams.example.org.evil.example", False), ("[bad", False),
])
def test_host_header(host: str | None, ok: bool) -> None:
    assert Access(allowed_hosts=("cams.example.org",)).host_ok(host) is ok


@pytest.mark.parametrize(("origin", "host", "ok"), [
    (None, "127.0.0.1:8080", True),
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
    ("https://cams.example.org", "127.0.0.1:8080", True),  # behind a proxy, allowed by name
    ("http://127.0.0.1:9999", "127.0.0.1:8080", False),  # another port: another site
    ("http://1.2.3.4", "127.0.0.1:8080", False),
    ("null", "127.0.0.1:8080", False),
    ("http://evil.example", "evil.example", True),  # same origin: Host is checked apart
])
def test_origin_header(origin: str | None, host: str, ok: bool) -> None:
    assert Access(allowed_hosts=("cams.example.org",)).origin_ok(origin, host) is ok


def test_graphs_are_bundled_names_or_files_under_the_graphs_dir(tmp_path: pathlib.Path) -> None:
    graphs = tmp_path / "graphs"
    (graphs / "sub").mkdir(parents=True)
    (graphs / "sub" / "mine.pbtxt").write_text("")
    secret = tmp_path / "secret.pbtxt"
    secret.write_text('db_password: "x"')
    (graphs / "link.pbtxt").symlink_to(secret)
    access = Access(graphs_dir=graphs)
    bundled = resource_dir("graphs") / "face_detection.pbtxt"
    assert access.graph_file("face_detection") == bundled
    assert access.graph_file("face_detection.pbtxt") == bundled
    assert access.graph_file("sub/mine.pbtxt") == (graphs / "sub" / "mine.pbtxt").resolve()
    assert access.graph_file(str(graphs / "sub" / "mine.pbtxt")).name == "mine.pbtxt"
    refusals = {}
    for name in (str(secret), "../secret.pbtxt", "link.pbtxt", str(tmp_path / "none.pbtxt"),
                 "/etc/passwd", "sub/../../secret.pbtxt"):
        with pytest.raises(RefusedError) as error:
            access.graph_file(name)
        refusals[name] = str(error.value).replace(repr(name), "NAME")
    assert len(set(refusals.values())) == 1, refusals  # the same whether it exists or not
    with pytest.raises(RefusedError, match="none is set"):
        Access().graph_file("sub/mine.pbtxt")


@pytest.mark.parametrize("source", [
    "push", "demo", "rtsp://8.8.8.8/live", "https://[2001:4860::8888]/x.m3u8",
    "http://cams.example.org:8080/video.mjpg", "RTSP://user:pw@8.8.4.4/x",
])
def test_allowed_sources(source: str) -> None:
    Access().check_source(source)


@pytest.mark.parametrize(("source", "flag"), [
    ("/etc/hostname", "--allow-local-sources"), ("videos/a.mp4", "--allow-local-sources"),
    ("camera:0", "--allow-local-sources"), ("0", "--allow-local-sources"),
    ("file:///etc/hostname", "--allow-local-sources"),
    ("tcp://0.0.0.0:9000?listen=1", "--allow-local-sources"),
    ("srt://8.8.8.8:9000?mode=listener", "--allow-local-sources"),
    ("http://127.0.0.1:8080/x", "--allow-private-hosts"),
    ("http://169.254.169.254/latest/meta-data/", "--allow-private-hosts"),
    ("rtsp://10.1.2.3/x", "--allow-private-hosts"), ("rtsp://[::1]/x", "--allow-private-hosts"),
    ("http://[::ffff:192.168.0.1]/x", "--allow-private-hosts"),
    ("http://0.0.0.0/x", "--allow-private-hosts"), ("http://224.0.0.1/x", "--allow-private-hosts"),
])
def test_refused_sources_name_the_flag(source: str, flag: str) -> None:
    with pytest.raises(RefusedError, match=flag):
        Access().check_source(source)


def test_flags_allow_local_sources_and_private_hosts() -> None:
    Access(allow_local_sources=True).check_source("/etc/hostname")
    Access(allow_local_sources=True).check_source("tcp://0.0.0.0:9000?listen=1")
    Access(allow_private_hosts=True).check_source("http://127.0.0.1:8080/x")
    with pytest.raises(RefusedError, match="names no host"):
        Access().check_source("http:///x")


def test_host_names_are_checked_once_resolved() -> None:
    """localhost resolves here (no DNS query) to loopback: refused unless private hosts are."""
    assert Access.needs_lookup("http://localhost:8080/x")
    assert not Access.needs_lookup("http://127.0.0.1/x") and not Access.needs_lookup("demo")
    Access().check_source("http://localhost:8080/x")  # a name: nothing known yet
    with pytest.raises(RefusedError, match="not a public address"):
        Access().check_source_host("http://localhost:8080/x")
    Access(allow_private_hosts=True).check_source_host("http://localhost:8080/x")
