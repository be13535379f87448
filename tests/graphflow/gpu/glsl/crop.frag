#version 330 core
// Test shader: output pixel (x, y) is input pixel (x + 1, y + 2), rows counted from the top.
uniform sampler2D u_texture;
out vec4 color;

void main() {
    color = texelFetch(u_texture, ivec2(gl_FragCoord.xy) + ivec2(1, 2), 0);
}
