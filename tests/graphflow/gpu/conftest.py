"""Fixtures of the GPU tests: a GL context, shut down after the test."""

from collections.abc import Iterator

import pytest

from graphflow.gpu import GlContext


@pytest.fixture
def gl() -> Iterator[GlContext]:
    context = GlContext("test")
    yield context
    context.shutdown()
