#version 330 core
#include "broken_lib.glsl"
uniform sampler2D u_texture;
in vec2 uv;
out vec4 color;

void main() {
    color = vec4(broken(texture(u_texture, uv).rgb), 1.0);
}
