"""Shader loading: includes, line mapping of compile errors, link errors."""

import pathlib

import pytest

from graphflow.gpu import GlContext, ShaderError, compile_program, load_shader, shader_from_string

HERE = pathlib.Path(__file__).parent / "glsl"


def test_includes_expand_once_and_remember_their_origin() -> None:
    source = shader_from_string(
        '#version 330 core\n#include "lib/color.glsl"\n#include <lib/color.glsl>\nvoid f();\n'
    )
    assert source.text.count("float luma(vec3 rgb)") == 1
    line = source.text.splitlines().index("float luma(vec3 rgb) {") + 1
    file, number = source.origin(line)
    assert file.endswith("glsl/lib/color.glsl") and number == 4
    assert source.origin(len(source.origins)) == ("<string>", 4)


def test_a_missing_include_names_the_including_file_and_line() -> None:
    with pytest.raises(ShaderError, match=r"<string>:2: cannot find include 'nope.glsl'"):
        shader_from_string('#version 330 core\n#include "nope.glsl"\n')


def test_a_missing_shader_file_is_reported() -> None:
    with pytest.raises(ShaderError, match=r"shader 'missing\.frag' not found"):
        load_shader("missing.frag")


def test_compile_errors_name_the_included_file_and_its_true_line(gl: GlContext) -> None:
    vertex = load_shader("fullscreen.vert")
    fragment = load_shader("broken.frag", [HERE])
    with pytest.raises(ShaderError) as info:
        gl.run(lambda: compile_program(gl.ctx, vertex, fragment))
    first = str(info.value).splitlines()[0]
    assert "broken_lib.glsl:4:" in first and "undeclared_factor" in first


def test_link_errors_name_both_shaders(gl: GlContext) -> None:
    vertex = shader_from_string("#version 330 core\nout vec2 uv;\nvoid main() { uv = vec2(0); "
                                "gl_Position = vec4(0); }\n", "a.vert")
    fragment = shader_from_string("#version 330 core\nin vec3 uv;\nout vec4 c;\nvoid main() "
                                  "{ c = vec4(uv, 1); }\n", "b.frag")
    with pytest.raises(ShaderError, match=r"linking a\.vert with b\.frag failed"):
        gl.run(lambda: compile_program(gl.ctx, vertex, fragment))


def test_absolute_names_load_that_file_and_absolute_includes_too(tmp_path: pathlib.Path) -> None:
    library = tmp_path / "lib.glsl"
    library.write_text("float half_of(float x) { return x * 0.5; }\n")
    main = tmp_path / "main.frag"
    main.write_text(f'#version 330 core\n#include "{library}"\nvoid main() {{}}\n')
    source = load_shader(str(main), [HERE])
    assert source.text == ("#version 330 core\nfloat half_of(float x) { return x * 0.5; }\n"
                           "void main() {}\n")
    assert source.origin(2) == (str(library), 1)
