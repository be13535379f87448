#version 330 core
// Inverts the RGB channels, keeps alpha.
uniform sampler2D u_texture;
in vec2 uv;
out vec4 color;

void main() {
    vec4 c = texture(u_texture, uv);
    color = vec4(1.0 - c.rgb, c.a);
}
