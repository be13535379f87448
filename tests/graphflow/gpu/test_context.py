"""GlContext: its thread, its task queue, thread assertions, shutdown and no-GL errors."""

import functools
import threading
from typing import Any

import pytest

from graphflow.gpu import (
    GlContext,
    GlError,
    GlThreadError,
    GlUnavailableError,
    current_context,
    errors,
    gl_context_name,
    is_gl_executor,
    node_executor_name,
)


def test_run_returns_results_and_raises_errors_on_the_gl_thread(gl: GlContext) -> None:
    assert gl.run(threading.current_thread) is gl.thread
    assert gl.run(current_context) is gl
    assert gl.run(lambda: gl.ctx.info["GL_RENDERER"]) == gl.renderer != ""
    with pytest.raises(ZeroDivisionError):
        gl.run(lambda: 1 // 0)
    assert gl.run(lambda: 7) == 7  # the thread survives a failed task


def test_submit_runs_tasks_in_order_without_blocking(gl: GlContext) -> None:
    gate = threading.Event()
    order: list[int] = []

    def block() -> None:
        gate.wait()

    def append(i: int) -> None:
        order.append(i)

    gl.submit(block)  # blocks the GL thread until released
    for i in range(50):
        gl.submit(functools.partial(append, i))  # returns although the GL thread is busy
    assert order == []
    gate.set()
    future = gl.run_async(lambda: list(order))
    assert future.result(timeout=10) == list(range(50))


def test_run_on_the_gl_thread_itself_does_not_deadlock(gl: GlContext) -> None:
    assert gl.run(lambda: gl.run(lambda: 3)) == 3


def test_gl_objects_assert_the_owning_thread(gl: GlContext) -> None:
    with pytest.raises(GlThreadError, match=r"test.*thread"):
        _ = gl.ctx
    with pytest.raises(GlThreadError):
        gl.pool.acquire(4, 4)
    assert current_context() is None


def test_shutdown_releases_textures_and_joins_the_thread() -> None:
    gl = GlContext("short")
    gl.run(lambda: gl.pool.acquire(8, 8))
    assert gl.pool.texture_count == 1
    gl.shutdown()
    assert not gl.thread.is_alive()
    assert gl.pool.texture_count == 0
    gl.shutdown()  # idempotent
    with pytest.raises(GlError, match="GL context 'short' is shut down"):
        gl.submit(lambda: None)
    assert gl.post(lambda: None) is False


def test_a_machine_without_egl_gets_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # glcontext loads the library named here: a missing one is what a bare machine looks like.
    monkeypatch.setenv("GLCONTEXT_LINUX_LIBEGL", "/nonexistent/libEGL.so.1")
    with pytest.raises(GlUnavailableError) as info:
        GlContext("bare", share=False)
    message = str(info.value)
    assert "apt-get install -y libegl1 libgl1 libgl1-mesa-dri" in message
    assert "'bare'" in message


@pytest.mark.parametrize("raw", [
    "libGL.so not loaded", "libEGL.so not loaded", "requested device index 0, but found 0 devices",
    "eglInitialize failed (0x3001)",
])
def test_low_level_failures_map_to_the_no_gl_error(raw: str) -> None:
    assert errors.is_no_gl_failure(RuntimeError(raw))
    assert "libgl1-mesa-dri" in str(errors.no_gl_error(RuntimeError(raw), "GL context 'x'"))


def test_ordinary_errors_are_not_mistaken_for_missing_gl() -> None:
    assert not errors.is_no_gl_failure(ValueError("Requested OpenGL version 460, got 450"))


def _node(executor: str = "") -> Any:
    from graphflow.proto.mediapipe.framework import calculator_pb2

    return calculator_pb2.CalculatorGraphConfig.Node(executor=executor)


def test_node_executor_names_follow_gl_context_options() -> None:
    from graphflow.proto.mediapipe.gpu import gl_context_options_pb2 as pb

    ext = pb.GlContextOptions.ext  # type: ignore[attr-defined]
    assert node_executor_name("gl", _node()) == "gl"
    assert node_executor_name(None, _node()) is None
    assert node_executor_name("gl", _node(executor="mine")) == "mine"
    node = _node()
    node.options.Extensions[ext].gl_context_name = "render"
    assert node_executor_name("gl", node) == "gl:render"
    assert node_executor_name(None, node) is None  # a CPU calculator ignores the option
    node = _node()
    node.node_options.add().Pack(pb.GlContextOptions(gl_context_name="infer"))  # type: ignore
    assert node_executor_name("gl", node) == "gl:infer"


def test_gl_executor_names() -> None:
    assert is_gl_executor("gl") and is_gl_executor("gl:render")
    assert not is_gl_executor("glx") and not is_gl_executor(None)
    assert gl_context_name("gl") == "" and gl_context_name("gl:render") == "render"
    with pytest.raises(ValueError, match="not a GL executor"):
        gl_context_name("pool")
