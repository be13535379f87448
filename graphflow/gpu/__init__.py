"""graphflow's GPU layer: GL context threads, GpuBuffer, GL calculators, shader loading.

Importing it registers the ``"gl"`` executor kind with the engine: a node whose executor is
``"gl"`` or ``"gl:<gl_context_name>"`` runs on that GL context's thread, and a GL calculator's
node picks its context with ``GlContextOptions`` (:func:`node_executor_name`).
"""

from graphflow.gpu.buffer import RGBA8, GpuBuffer, TexturePool, upload
from graphflow.gpu.context import (
    GL_CONTEXT_OPTIONS,
    GL_EXECUTOR,
    GlContext,
    current_context,
    executor_factory,
    gl_context_name,
    is_gl_executor,
    node_executor_name,
    require_current,
)
from graphflow.gpu.errors import (
    GlError,
    GlThreadError,
    GlUnavailableError,
    ShaderError,
)
from graphflow.gpu.shader import (
    GLSL_DIR,
    ShaderSource,
    compile_program,
    load_shader,
    shader_from_string,
)
from graphflow.gpu.simple import GlShaderCalculator, GlSimpleCalculator
from graphflow.gpu.state import GlState, preserved_state
from graphflow.runtime import ExecutorKind, register_executor_kind

register_executor_kind(ExecutorKind(GL_EXECUTOR, executor_factory, node_executor_name,
                                    GL_CONTEXT_OPTIONS))

__all__ = [
    "GLSL_DIR",
    "GL_EXECUTOR",
    "RGBA8",
    "GlContext",
    "GlError",
    "GlShaderCalculator",
    "GlSimpleCalculator",
    "GlState",
    "GlThreadError",
    "GlUnavailableError",
    "GpuBuffer",
    "ShaderError",
    "ShaderSource",
    "TexturePool",
    "compile_program",
    "current_context",
    "executor_factory",
    "gl_context_name",
    "is_gl_executor",
    "load_shader",
    "node_executor_name",
    "preserved_state",
    "require_current",
    "shader_from_string",
    "upload",
]
