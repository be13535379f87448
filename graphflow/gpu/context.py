"""GL contexts: one dedicated thread per OpenGL context, which is also its nodes' executor.

An OpenGL context is current on one thread at a time, and moderngl objects must be used and
released there (a context used from another thread silently renders black). So each
:class:`GlContext` owns a thread that makes the context current once and then runs tasks from
a FIFO queue; GPU calculators run their ``open``/``process``/``close`` as such tasks, which is
why graphflow's scheduler uses the context as the executor of the nodes that use it.

The contexts of a process form one EGL share group: the first one is a headless EGL context
(``moderngl.create_standalone_context(backend='egl')``), each next one an EGL context created
with a live member as share context, so a texture made in one is visible in the others
(ordered with fences). Where EGL refuses to share, a context starts a separate group and
buffers crossing groups are copied (readback on the owner, upload on the reader); see
:meth:`graphflow.gpu.GpuBuffer.texture_in`. graphflow's scheduler creates one context per GL
executor name of a run (``"gl"``, ``"gl:<gl_context_name>"``) and shuts them down at its end.

Example:
    gl = GlContext("render")
    size = gl.run(lambda: gl.ctx.info["GL_RENDERER"])
    gl.shutdown()
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import moderngl

from graphflow.gpu import _egl
from graphflow.gpu.buffer import TexturePool
from graphflow.gpu.errors import (
    GlError,
    GlThreadError,
    GlUnavailableError,
    is_no_gl_failure,
    no_gl_error,
)
from graphflow.gpu.transfer import Transfers, choose_transfers, is_software_renderer
from graphflow.proto.mediapipe.gpu import gl_context_options_pb2 as pb  # registers the extension

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The executor name of GPU nodes on the default context; ``"gl:<name>"`` picks context name.
GL_EXECUTOR = "gl"
#: The options message a GL node may carry to name its context (``gl_context_name``).
GL_CONTEXT_OPTIONS = pb.GlContextOptions.DESCRIPTOR.full_name

_tls = threading.local()
_group_ids = itertools.count(1)
# Live contexts that others may share with; creation and destruction hold the lock, so a share
# context is never destroyed while another context is being created from it.
_LIVE: list[GlContext] = []
_SHARE_LOCK = threading.Lock()
# Contexts left alive at shutdown because arrays still read their mapped buffers.
_KEPT: list[moderngl.Context] = []


def current_context() -> GlContext | None:
    """The :class:`GlContext` whose thread is the calling thread, or None."""
    return getattr(_tls, "context", None)


def require_current(what: str) -> GlContext:
    """The calling thread's :class:`GlContext`.

    Args:
        what: Who asks, for the error message (e.g. ``"node 'blur' (BlurCalculator)"``).

    Raises:
        GlThreadError: If the calling thread is not a GL context's thread.
    """
    gl = current_context()
    if gl is None:
        raise GlThreadError(
            f"{what} must run on a GL context's thread, not on "
            f"{threading.current_thread().name!r}: give its node executor 'gl' (or "
            "'gl:<gl_context_name>'), or call it through GlContext.run()"
        )
    return gl


class ShareGroup:
    """Contexts whose textures, buffers and fences are shared (one EGL share group)."""

    def __init__(self) -> None:
        self.id = next(_group_ids)


class GlContext:
    """An OpenGL context with the thread that owns it and runs its tasks in FIFO order.

    Args:
        name: The context's name (MediaPipe's ``gl_context_name``); ``""`` is the default.
        share: Join the share group of the live contexts (textures then pass between them
            without copies); False (or no live context) starts a new group with a standalone
            EGL context.

    Raises:
        GlUnavailableError: If this machine cannot create an OpenGL context; the message
            says which packages to install.
    """

    def __init__(self, name: str = "", *, share: bool = True) -> None:
        self.name = name
        self.pool = TexturePool(self)
        self.group = ShareGroup()
        self.renderer = ""
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._ctx: moderngl.Context | None = None
        self._handles: _egl.EglHandles | None = None
        self._owns_egl = False
        self._fences: _egl.Fences | None = None
        self._transfers: Transfers | None = None
        self._foreign_reads: list[object] = []  # buffers of other contexts the task read
        self._finish: Callable[[], None] | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._startup_error: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(share, ready), name=f"gl:{name or 'default'}",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    # -- the GL thread ---------------------------------------------------------------------

    def _main(self, share: bool, ready: threading.Event) -> None:
        try:
            with _SHARE_LOCK:
                self._create(next(iter(_LIVE), None) if share else None)
                if self._handles is not None:
                    _LIVE.append(self)
        except BaseException as e:
            self._startup_error = e
            ready.set()
            return
        _tls.context = self
        ready.set()
        while True:
            task = self._queue.get()
            if task is None:
                break
            try:
                task()
            except BaseException:
                logger.exception("task failed on GL context %r", self.name)
            if self._foreign_reads:
                # Their owners recycle those textures once the buffers are gone: let the reads
                # finish first. ctypes' glFinish releases the GIL while llvmpipe or the GPU
                # drains (moderngl's finish would hold it), and the buffers stay alive until
                # it returns, so no owner can write into a texture still being read.
                if self._finish is None:
                    self._finish = _egl.gl_function("glFinish", None)
                self._finish()
                self._foreign_reads.clear()
        self._teardown()

    def _create(self, share_with: GlContext | None) -> None:
        what = f"GL context {self.name or 'default'!r}"
        if share_with is not None and share_with._handles is not None:
            try:
                self._handles = _egl.create_shared_context(share_with._handles)
                self._owns_egl = True
                self._ctx = _egl.attach_moderngl()
                self.group = share_with.group
            except Exception as e:
                logger.warning(
                    "%s cannot share textures with %r (%s); buffers passed between them will "
                    "be copied", what, share_with.name, e,
                )
                if self._handles is not None:
                    _egl.destroy_context(self._handles)
                self._handles, self._owns_egl, self._ctx = None, False, None
        if self._ctx is None:
            try:
                self._ctx = moderngl.create_standalone_context(
                    backend="egl")  # type: ignore[arg-type]
            except Exception as e:
                if is_no_gl_failure(e):
                    raise no_gl_error(e, what) from e
                raise
            try:
                self._handles = _egl.current_handles()
            except GlUnavailableError as e:
                logger.warning("%s cannot be shared with other contexts: %s", what, e)
        self.renderer = str(self._ctx.info["GL_RENDERER"])
        logger.info("%s created on %s", what, self.renderer)

    def _teardown(self) -> None:
        freed = True
        try:
            self.pool.release_all()
            if self._transfers is not None:
                freed = self._transfers.release()
        finally:
            assert self._ctx is not None
            with _SHARE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)
                if freed:
                    self._ctx.release()
                    if self._owns_egl and self._handles is not None:
                        _egl.destroy_context(self._handles)
                else:
                    # Destroying the context would unmap the buffers that arrays still read.
                    logger.warning(
                        "GL context %r is kept alive (not destroyed) after shutdown: arrays "
                        "of its mapped readbacks are still referenced", self.name)
                    _KEPT.append(self._ctx)
            _tls.context = None

    # -- API -------------------------------------------------------------------------------

    @property
    def ctx(self) -> moderngl.Context:
        """The moderngl context; only usable on this context's thread."""
        self.assert_current("GlContext.ctx")
        assert self._ctx is not None
        return self._ctx

    @property
    def thread(self) -> threading.Thread:
        """The thread that owns the context."""
        return self._thread

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._closing

    def is_current(self) -> bool:
        """True if the calling thread is this context's thread."""
        return threading.current_thread() is self._thread

    def assert_current(self, what: str) -> None:
        """Raises :class:`GlThreadError` unless called on this context's thread.

        Args:
            what: The operation, for the message (``"GpuBuffer.read"``).
        """
        if not self.is_current():
            raise GlThreadError(
                f"{what} must run on GL context {self.name or 'default'!r}'s thread "
                f"({self._thread.name!r}), not on {threading.current_thread().name!r}: a "
                "context used from another thread renders black"
            )

    @property
    def fences(self) -> _egl.Fences:
        """Fence functions of this context (GL thread only)."""
        self.assert_current("GlContext.fences")
        if self._fences is None:
            self._fences = _egl.Fences()
        return self._fences

    @property
    def software(self) -> bool:
        """True if this context renders on the CPU (Mesa's llvmpipe, SwiftShader...)."""
        return is_software_renderer(self.renderer)

    @property
    def transfers(self) -> Transfers:
        """How frames move between numpy and textures here (GL thread only).

        Chosen on first use by :func:`graphflow.gpu.transfer.choose_transfers`: direct on
        software renderers, persistently mapped pixel buffers on GPUs.
        """
        self.assert_current("GlContext.transfers")
        if self._transfers is None:
            self._transfers = choose_transfers(self.ctx)
        return self._transfers

    def note_foreign_read(self, buffer: object) -> None:
        """Records that the running task read ``buffer``, whose texture another context owns.

        The task loop keeps the buffer alive until this context's commands have finished,
        after the task, so that the owner cannot recycle the texture while reads are pending.
        """
        self._foreign_reads.append(buffer)

    def submit(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the GL thread, after the tasks already queued; never blocks.

        This is the executor interface graphflow's scheduler uses for GPU nodes. An exception
        escaping ``fn`` is logged (the scheduler wraps node calls to report their errors).

        Raises:
            GlError: If the context is shut down.
        """
        if not self.post(fn):
            raise GlError(f"GL context {self.name or 'default'!r} is shut down")

    def post(self, fn: Callable[[], None]) -> bool:
        """Like :meth:`submit` but returns False instead of raising after shutdown."""
        with self._lock:
            if self._closing:
                return False
            self._queue.put(fn)
            return True

    def run_async(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Runs ``fn`` on the GL thread; the future holds its result or its exception."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def task() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as e:
                future.set_exception(e)

        self.submit(task)
        return future

    def run(self, fn: Callable[[], T]) -> T:
        """Runs ``fn`` on the GL thread and returns its result (or raises its error).

        Called on the GL thread itself, it runs ``fn`` at once (no deadlock).
        """
        if self.is_current():
            return fn()
        return self.run_async(fn).result()

    def shutdown(self) -> None:
        """Runs the queued tasks, releases every GL object of the context, joins the thread.

        Idempotent. Called from a task on the GL thread itself, it only stops the loop after
        that task (the thread cannot join itself).
        """
        with self._lock:
            first = not self._closing
            self._closing = True
            if first:
                self._queue.put(None)
        if not self.is_current():
            self._thread.join()

    def __repr__(self) -> str:
        state = "closed" if self._closing else self.renderer or "starting"
        return f"GlContext({self.name or 'default'!r}, group {self.group.id}, {state})"


def is_gl_executor(executor_name: str | None) -> bool:
    """True for ``"gl"`` and ``"gl:<name>"``."""
    return executor_name is not None and (
        executor_name == GL_EXECUTOR or executor_name.startswith(GL_EXECUTOR + ":")
    )


def gl_context_name(executor_name: str) -> str:
    """The context name in a GL executor name (``"gl"`` -> ``""``, ``"gl:render"`` -> ``"render"``).

    Raises:
        ValueError: If the name is not a GL executor name.
    """
    if not is_gl_executor(executor_name):
        raise ValueError(f"{executor_name!r} is not a GL executor name ('gl' or 'gl:<name>')")
    return executor_name[len(GL_EXECUTOR) + 1:]


def node_executor_name(calculator_executor: str | None, node: Any) -> str | None:
    """The executor name of a node: its config's ``executor``, else the calculator's default.

    For a GPU calculator (default executor ``"gl"``) a node's
    ``options { [mediapipe.GlContextOptions.ext] { gl_context_name: "x" } }`` (or the same in
    ``node_options``) gives ``"gl:x"``.

    Args:
        calculator_executor: The calculator class's ``executor`` attribute.
        node: The node's ``CalculatorGraphConfig.Node`` message.
    """
    if node.executor:
        return str(node.executor)
    if calculator_executor != GL_EXECUTOR:
        return calculator_executor
    name = ""
    if node.HasField("options") and node.options.HasExtension(pb.GlContextOptions.ext):
        name = node.options.Extensions[pb.GlContextOptions.ext].gl_context_name
    for any_options in node.node_options:
        if any_options.Is(pb.GlContextOptions.DESCRIPTOR):
            message = pb.GlContextOptions()
            any_options.Unpack(message)
            name = message.gl_context_name
    return f"{GL_EXECUTOR}:{name}" if name else GL_EXECUTOR


def executor_factory(executor_name: str) -> GlContext:
    """The scheduler's factory for GL executors: a new context for ``"gl"``/``"gl:<name>"``."""
    return GlContext(gl_context_name(executor_name))
