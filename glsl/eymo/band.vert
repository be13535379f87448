#version 330 core
// eymo: the band within the feather width of an item's outline (edge strips and corner
// squares), drawn into the depth buffer only, at depth 0; the item's triangles are at 0.5.
uniform vec2 u_size;  // output frame size, pixels

in vec2 in_dst;       // output pixels
in vec2 in_offset;    // translation of this copy, output pixels

void main() {
    gl_Position = vec4((in_dst + in_offset) / u_size * 2.0 - 1.0, -1.0, 1.0);
}
