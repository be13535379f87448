"""Live reload of an eymo script: the latest program that parsed, re-read when the file changes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from calculators.eymo.parser import ParseError, parse
from calculators.eymo.program import Program

logger = logging.getLogger(__name__)

DEFAULT_CHECK_INTERVAL_MS = 250.0


class ScriptWatcher:
    """Keeps the latest good program of a script file.

    `current()` costs a clock read; at most every `check_interval_ms` it also stats the file,
    and when the modification time or size changed it reads the file, and re-parses it when
    the text changed. A script with a mistake keeps the previous program and logs the error
    once per broken version; a file that disappears keeps it too (logged once). `version`
    counts the reloads and `error` says why the file on disk is not running, so that a live
    view can say what runs.

    Args:
        path: The script file.
        check_interval_ms: Least time between two looks at the file.
        clock: Seconds, monotonic; a parameter so that tests can drive it.

    Raises:
        ParseError: The script has a mistake when the watcher is created.
        OSError: The file cannot be read when the watcher is created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        check_interval_ms: float = DEFAULT_CHECK_INTERVAL_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = os.fspath(path)
        self._interval = check_interval_ms / 1000.0
        self._clock = clock
        self._lock = threading.Lock()
        self._stat = self._stat_key()
        text = self._read()
        self._text = text
        self._program = parse(text, self._path)
        self._last_check = clock()
        self._good_text = text
        self._version = 0
        self._error: str | None = None

    @property
    def path(self) -> str:
        """The watched file."""
        return self._path

    @property
    def version(self) -> int:
        """How many times the script was reloaded (0: the version it started with)."""
        return self._version

    @property
    def error(self) -> str | None:
        """The first line of the error that keeps the file on disk from running, or None."""
        return self._error

    def current(self) -> Program:
        """Returns the latest program that parsed, looking at the file if it is time to."""
        with self._lock:
            now = self._clock()
            if now - self._last_check >= self._interval:
                self._last_check = now
                self._refresh()
            return self._program

    def _stat_key(self) -> tuple[int, int]:
        stat = os.stat(self._path)
        return stat.st_mtime_ns, stat.st_size

    def _read(self) -> str:
        with open(self._path, encoding="utf-8") as file:
            return file.read()

    def _refresh(self) -> None:
        try:
            stat = self._stat_key()
            if stat == self._stat:
                return
            text = self._read()
        except (OSError, UnicodeDecodeError) as error:
            if self._stat != (-1, -1):
                logger.error(
                    "cannot read eymo script %s (%s); keeping the last good version",
                    self._path,
                    error,
                )
                self._stat = (-1, -1)
                self._error = f"cannot read it ({error})"
            return
        self._stat = stat
        if text == self._text:
            if text == self._good_text:
                self._error = None  # readable again, and what runs
            return
        self._text = text
        try:
            self._program = parse(text, self._path)
        except ParseError as error:
            logger.error("%s\nkeeping the last good version of the script", error)
            self._error = str(error).splitlines()[0]
            return
        self._good_text = text
        self._version += 1
        self._error = None
        logger.info("reloaded eymo script %s", self._path)
