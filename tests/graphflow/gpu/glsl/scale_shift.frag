#version 330 core
// Test shader: rgb * gain (side packet) * scale_x (options) + shift_x (options), luma in alpha.
#include "lib/color.glsl"
uniform sampler2D u_texture;
uniform vec3 gain;
uniform float scale_x;
uniform float shift_x;
in vec2 uv;
out vec4 color;

void main() {
    vec3 c = texture(u_texture, uv).rgb;
    color = vec4(c * gain * scale_x + shift_x, luma(c));
}
