#version 330 core
// Multiplies each pixel's RGB by `tint` (from the TINT side packet in the docs example).
uniform sampler2D u_texture;
uniform vec3 tint;
in vec2 uv;
out vec4 color;

void main() {
    vec4 c = texture(u_texture, uv);
    color = vec4(c.rgb * tint, c.a);
}
