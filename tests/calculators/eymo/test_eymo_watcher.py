"""Tests of ScriptWatcher: live reload of an eymo script file."""

import logging
import os
from pathlib import Path

import pytest

from calculators.eymo import ParseError, ScriptWatcher, parse
from calculators.eymo import program as ast


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "live.eymo"
    write(path, "leye: scale(2)\n", 1_000_000_000)
    return path


def test_picks_up_edits_and_keeps_the_last_good_program(
    script: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = ScriptWatcher(script, check_interval_ms=0)
    assert watcher.current() == parse("leye: scale(2)")
    assert (watcher.version, watcher.error) == (0, None)
    write(script, "mouth: spin(1)\n", 2_000_000_000)
    assert watcher.current() == parse("mouth: spin(1)")
    assert (watcher.version, watcher.error) == (1, None)
    with caplog.at_level(logging.ERROR, logger="calculators.eymo.watcher"):
        write(script, "mouth: spin(1), scael(2)\n", 3_000_000_000)
        assert watcher.current() == parse("mouth: spin(1)")
        assert watcher.current() == parse("mouth: spin(1)")
    (record,) = caplog.records  # logged once for this broken version
    message = f"{script}:1:17: unknown operation 'scael'. Did you mean 'scale'?"
    assert message in record.getMessage()
    assert watcher.version == 1 and message in str(watcher.error)
    write(script, "nose: tile\n", 4_000_000_000)
    assert watcher.current() == parse("nose: tile")
    assert watcher.current().source == str(script)
    assert (watcher.version, watcher.error) == (2, None)


def test_same_size_edit_is_seen_through_the_modification_time(script: Path) -> None:
    watcher = ScriptWatcher(script, check_interval_ms=0)
    write(script, "leye: scale(3)\n", 2_000_000_000)
    assert watcher.current() == parse("leye: scale(3)")


def test_a_touched_but_unchanged_file_is_not_parsed_again(script: Path) -> None:
    watcher = ScriptWatcher(script, check_interval_ms=0)
    first = watcher.current()
    write(script, "leye: scale(2)\n", 5_000_000_000)
    assert watcher.current() is first


def test_looks_at_the_file_at_most_every_interval(script: Path) -> None:
    clock = FakeClock()
    watcher = ScriptWatcher(script, check_interval_ms=500, clock=clock)
    write(script, "reye: tile\n", 2_000_000_000)
    clock.now += 0.4
    assert watcher.current() == parse("leye: scale(2)")
    clock.now += 0.1
    assert watcher.current() == parse("reye: tile")
    write(script, "mouth: tile\n", 3_000_000_000)
    clock.now += 0.499
    assert watcher.current() == parse("reye: tile")
    clock.now += 0.001
    assert watcher.current() == parse("mouth: tile")


def test_a_vanished_file_keeps_the_program_and_logs_once(
    script: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = ScriptWatcher(script, check_interval_ms=0)
    script.unlink()
    with caplog.at_level(logging.ERROR, logger="calculators.eymo.watcher"):
        assert watcher.current() == parse("leye: scale(2)")
        assert watcher.current() == parse("leye: scale(2)")
    (record,) = caplog.records
    assert record.getMessage().startswith(f"cannot read eymo script {script}")
    assert str(watcher.error).startswith("cannot read it")
    write(script, "leye: scale(2)\n", 8_000_000_000)  # back as it was: what runs
    assert watcher.current() == parse("leye: scale(2)")
    assert (watcher.version, watcher.error) == (0, None)
    write(script, "face: flip(both)\n", 9_000_000_000)
    assert watcher.current().statements[0].ops == (ast.Flip("both"),)


def test_a_broken_script_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.eymo"
    path.write_text("leye: scale(2\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"bad\.eymo:1:14: expected '\)' or ','"):
        ScriptWatcher(path)
    with pytest.raises(FileNotFoundError):
        ScriptWatcher(tmp_path / "missing.eymo")
