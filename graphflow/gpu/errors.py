"""Errors of the GPU layer, and the mapping of low-level GL failures to one clear message."""

from __future__ import annotations

INSTALL_HINT = (
    "graphflow's GPU calculators need OpenGL 3.3 through EGL. On Debian/Ubuntu install the "
    "Mesa drivers: `apt-get install -y libegl1 libgl1 libgl1-mesa-dri` (a machine without a "
    "GPU then renders on the CPU with llvmpipe); on an NVIDIA machine install the driver's EGL "
    "libraries (libnvidia-gl)."
)

# Fragments of moderngl/glcontext/EGL messages that mean "no usable GL on this machine".
_NO_GL_MARKERS = (
    "libgl.so",
    "libegl.so",
    "cannot find opengl",
    "found 0 devices",
    "eglinitialize failed",
    "eglgetplatformdisplayext failed",
    "eglquerydevicesext failed",
    "eglchooseconfig failed",
    "eglcreatecontext failed",
    "eglmakecurrent failed",
    "not found",
    "no egl",
)


class GlError(RuntimeError):
    """Base class of the GPU layer's errors."""


class GlUnavailableError(GlError):
    """This machine cannot create an OpenGL context (missing libraries or driver)."""


class GlThreadError(GlError):
    """A GL object was used from a thread where its context is not current.

    A context used from another thread silently renders black, so every GL entry point of
    graphflow checks the owning thread first.
    """


class ShaderError(GlError):
    """A shader failed to load, compile or link; the message names the file and line."""


def is_no_gl_failure(error: BaseException) -> bool:
    """True if ``error`` (from moderngl, glcontext or ctypes/EGL) means GL is unavailable."""
    text = str(error).lower()
    return any(marker in text for marker in _NO_GL_MARKERS)


def no_gl_error(error: BaseException, what: str) -> GlUnavailableError:
    """The single user-facing error for a machine without usable OpenGL.

    Args:
        error: The low-level failure (kept as the cause and quoted).
        what: What was being created, e.g. ``"GL context 'render'"``.
    """
    return GlUnavailableError(f"cannot create {what}: {error}. {INSTALL_HINT}")
