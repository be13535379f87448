#version 330 core
// Test shader: samples at uv; with a half-size output each sample averages a 2x2 block.
uniform sampler2D u_texture;
in vec2 uv;
out vec4 color;

void main() {
    color = texture(u_texture, uv);
}
