#version 330 core
// eymo, pixels at least the feather width inside the outline: the recoloured input, opaque.
#include "shade.glsl"

in vec2 v_uv;
out vec4 color;

void main() {
    color = vec4(shaded(v_uv), 1.0);
}
