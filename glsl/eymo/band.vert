#version 330 core
// eymo: the band within the feather width of an item's outline, made from the outline alone
// (gl_VertexID): for each edge a strip pushed inwards by the width, for each vertex a square
// of half-side the width around it, two triangles each. Every point inside the outline closer
// to it than the width is in one of them. Drawn into the depth buffer only, at the item's depth
// (its triangles are drawn at the same depth), once per instance offset (tiled copies).
#define MAX_RING 64

uniform vec2 u_size;            // output frame size, pixels
uniform vec2 u_ring[MAX_RING];  // the outline in output pixels, copy at offset (0, 0)
uniform int u_ring_size;
uniform float u_depth;          // the item's depth, NDC z
uniform float u_width;          // band width in pixels; negative if the inside is right of
                                // each edge (x right, y down), positive if left

in vec2 in_offset;              // per instance: translation of this copy, output pixels

const int CORNER[6] = int[6](0, 1, 2, 0, 2, 3);
const vec2 SQUARE[4] = vec2[4](vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(1.0, 1.0),
                               vec2(-1.0, 1.0));

void main() {
    int quad = gl_VertexID / 6;
    int corner = CORNER[gl_VertexID % 6];
    vec2 p;
    if (quad < u_ring_size) {
        vec2 a = u_ring[quad];
        vec2 b = u_ring[(quad + 1) % u_ring_size];
        vec2 e = b - a;
        float len = length(e);
        vec2 inward = len > 0.0 ? u_width / len * vec2(-e.y, e.x) : vec2(0.0);
        p = corner == 0 ? a : corner == 1 ? b : corner == 2 ? b + inward : a + inward;
    } else {
        p = u_ring[quad - u_ring_size] + abs(u_width) * SQUARE[corner];
    }
    gl_Position = vec4((p + in_offset) / u_size * 2.0 - 1.0, u_depth, 1.0);
}
