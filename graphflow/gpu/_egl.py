"""The few EGL and GL entry points moderngl does not expose, through ctypes.

moderngl's standalone EGL contexts cannot share objects (``create_context(share=True)`` fails on
them), so a second context of a share group is made here: an EGL context created with the first
one as its share context, made current (surfaceless) on its own thread, and moderngl attached
to it. Fences (``glFenceSync``/``glWaitSync``) order work across the contexts of a group.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
from typing import Any

from graphflow.gpu.errors import GlError, GlUnavailableError, no_gl_error

_EGL_NONE = 0x3038
_EGL_RENDERABLE_TYPE = 0x3040
_EGL_OPENGL_BIT = 0x0008
_EGL_SURFACE_TYPE = 0x3033
_EGL_PBUFFER_BIT = 0x0001
_EGL_OPENGL_API = 0x30A2
_EGL_CONTEXT_MAJOR_VERSION = 0x3098
_EGL_CONTEXT_MINOR_VERSION = 0x30FB
_EGL_CONTEXT_OPENGL_PROFILE_MASK = 0x30FD
_EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT = 0x0001

_GL_SYNC_GPU_COMMANDS_COMPLETE = 0x9117
_GL_SYNC_FLUSH_COMMANDS_BIT = 0x1
_GL_TIMEOUT_IGNORED = 0xFFFFFFFFFFFFFFFF
_GL_TIMEOUT_EXPIRED = 0x911B
_GL_WAIT_FAILED = 0x911D

_vp = ctypes.c_void_p


@functools.cache
def _libegl() -> Any:
    name = ctypes.util.find_library("EGL")
    if name is None:
        raise GlUnavailableError("libEGL.so not loaded (find_library('EGL') found nothing)")
    lib = ctypes.CDLL(name)
    lib.eglGetProcAddress.restype = _vp
    lib.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    lib.eglGetCurrentDisplay.restype = _vp
    lib.eglGetCurrentContext.restype = _vp
    lib.eglGetError.restype = ctypes.c_int
    lib.eglChooseConfig.argtypes = [
        _vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_vp), ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.eglCreateContext.restype = _vp
    lib.eglCreateContext.argtypes = [_vp, _vp, _vp, ctypes.POINTER(ctypes.c_int)]
    lib.eglMakeCurrent.argtypes = [_vp, _vp, _vp, _vp]
    lib.eglDestroyContext.argtypes = [_vp, _vp]
    lib.eglBindAPI.argtypes = [ctypes.c_uint]
    return lib


@dataclasses.dataclass(frozen=True)
class EglHandles:
    """An EGL display and context (opaque pointers)."""

    display: int
    context: int


def current_handles() -> EglHandles:
    """The EGL display and context current on the calling thread.

    Raises:
        GlUnavailableError: If no EGL context is current here.
    """
    egl = _libegl()
    display, context = egl.eglGetCurrentDisplay(), egl.eglGetCurrentContext()
    if not display or not context:
        raise GlUnavailableError("no EGL context is current on this thread")
    return EglHandles(display, context)


def create_shared_context(share: EglHandles) -> EglHandles:
    """Creates an OpenGL 3.3 core context sharing objects with ``share``, current here.

    Args:
        share: The share context (a context of the group, current on another thread).

    Returns:
        The new context, made current (surfaceless) on the calling thread.

    Raises:
        GlUnavailableError: If EGL refuses (no surfaceless support, incompatible config).
    """
    egl = _libegl()
    if not egl.eglBindAPI(_EGL_OPENGL_API):
        raise GlUnavailableError(f"eglBindAPI failed (0x{egl.eglGetError():x})")
    attrs = (ctypes.c_int * 5)(
        _EGL_RENDERABLE_TYPE, _EGL_OPENGL_BIT, _EGL_SURFACE_TYPE, _EGL_PBUFFER_BIT, _EGL_NONE
    )
    config, count = _vp(), ctypes.c_int()
    ok = egl.eglChooseConfig(share.display, attrs, ctypes.byref(config), 1, ctypes.byref(count))
    if not ok or count.value < 1:
        raise GlUnavailableError(f"eglChooseConfig failed (0x{egl.eglGetError():x})")
    context_attrs = (ctypes.c_int * 7)(
        _EGL_CONTEXT_MAJOR_VERSION, 3, _EGL_CONTEXT_MINOR_VERSION, 3,
        _EGL_CONTEXT_OPENGL_PROFILE_MASK, _EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, _EGL_NONE,
    )
    context = egl.eglCreateContext(share.display, config, share.context, context_attrs)
    if not context:
        raise GlUnavailableError(f"eglCreateContext failed (0x{egl.eglGetError():x})")
    if not egl.eglMakeCurrent(share.display, None, None, context):
        error = egl.eglGetError()
        egl.eglDestroyContext(share.display, context)
        raise GlUnavailableError(f"eglMakeCurrent failed (0x{error:x})")
    return EglHandles(share.display, context)


def destroy_context(handles: EglHandles) -> None:
    """Releases ``handles`` from the calling thread and destroys it."""
    egl = _libegl()
    egl.eglMakeCurrent(handles.display, None, None, None)
    egl.eglDestroyContext(handles.display, handles.context)


def attach_moderngl() -> Any:
    """A moderngl.Context for the EGL context current on the calling thread."""
    import _moderngl
    import moderngl

    return moderngl.create_context(context=_moderngl.DefaultLoader())


def gl_function(name: str, restype: Any, *argtypes: Any, release_gil: bool = True) -> Any:
    """A GL entry point moderngl does not expose, through ``eglGetProcAddress``.

    Call the returned function only on a thread whose context is current.

    Args:
        name: The GL function.
        restype: Its ctypes result type.
        *argtypes: Its ctypes argument types.
        release_gil: Let other Python threads run during the call: right for calls that
            make the driver work (a copy, a finish); for state queries and settings, which
            take a microsecond, False spares the GIL hand-over, which under contention can
            cost far more than the call.

    Raises:
        GlUnavailableError: If libEGL or the entry point is missing.
    """
    try:
        egl = _libegl()
    except GlUnavailableError as e:
        raise no_gl_error(e, f"GL function {name}") from e
    address = egl.eglGetProcAddress(name.encode())
    if not address:
        raise GlUnavailableError(f"{name} not found")
    prototype = ctypes.CFUNCTYPE if release_gil else ctypes.PYFUNCTYPE
    return prototype(restype, *argtypes)(address)


class Fences:
    """``glFenceSync``, ``glWaitSync``, ``glClientWaitSync`` and ``glDeleteSync``.

    Create it on a thread whose context is current; sync objects are shared within a share
    group, so a fence made in one context can be waited on in another.
    """

    def __init__(self) -> None:
        self._fence = gl_function("glFenceSync", _vp, ctypes.c_uint, ctypes.c_uint)
        self._wait = gl_function("glWaitSync", None, _vp, ctypes.c_uint, ctypes.c_uint64)
        self._client_wait = gl_function(
            "glClientWaitSync", ctypes.c_uint, _vp, ctypes.c_uint, ctypes.c_uint64)
        self._delete = gl_function("glDeleteSync", None, _vp)
        self._flush = gl_function("glFlush", None)

    def fence(self) -> int:
        """Inserts a fence after the commands issued so far and flushes; returns its handle.

        The flush lets another context wait on the fence (a fence that was never flushed may
        never signal there) and starts the GPU on the work queued so far.
        """
        sync = int(self._fence(_GL_SYNC_GPU_COMMANDS_COMPLETE, 0))
        self._flush()
        return sync

    def wait(self, sync: int) -> None:
        """Makes the current context's later commands wait for ``sync`` (no CPU block)."""
        self._wait(sync, 0, _GL_TIMEOUT_IGNORED)

    def signalled(self, sync: int) -> bool:
        """True if the GPU has passed ``sync`` (never blocks; flushes the commands)."""
        return bool(self._client_wait(sync, _GL_SYNC_FLUSH_COMMANDS_BIT, 0) != _GL_TIMEOUT_EXPIRED)

    def client_wait(self, sync: int) -> None:
        """Blocks the calling thread until the GPU has passed ``sync``.

        Raises:
            GlError: If the driver reports the wait failed (a lost context).
        """
        while True:
            status = self._client_wait(sync, _GL_SYNC_FLUSH_COMMANDS_BIT, 1_000_000_000)
            if status == _GL_WAIT_FAILED:
                raise GlError("glClientWaitSync failed (GL context lost?)")
            if status != _GL_TIMEOUT_EXPIRED:
                return

    def delete(self, sync: int) -> None:
        """Deletes a fence."""
        self._delete(sync)
