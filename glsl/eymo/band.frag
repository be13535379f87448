#version 330 core
// eymo: the band pass writes depth only (colour writes are masked off).
out vec4 color;

void main() {
    color = vec4(0.0);
}
