#version 330 core
// eymo, pixels near the outline: samples the unmodified input frame, recolours it, and
// outputs a feathered alpha that rises from 0 on the item's outline to 1 at u_feather pixels
// inside it (blended by the caller with SRC_ALPHA / ONE_MINUS_SRC_ALPHA). The reference is
// DrawItem.coverage in calculators/eymo/geometry.py.
#include "shade.glsl"

#define MAX_RING 64

uniform vec2 u_ring[MAX_RING];  // the outline in output pixels, copy at offset (0, 0)
uniform int u_ring_size;
uniform float u_feather;        // width of the soft edge, pixels

in vec2 v_uv;
flat in vec2 v_offset;
out vec4 color;

// Squared distance from p to the closed outline.
float ring_distance2(vec2 p) {
    float best = 1e30;
    vec2 a = u_ring[u_ring_size - 1];
    for (int i = 0; i < u_ring_size; ++i) {
        vec2 b = u_ring[i];
        vec2 e = b - a;
        vec2 q = p - a;
        float length2 = dot(e, e);
        float t = length2 > 0.0 ? clamp(dot(q, e) / length2, 0.0, 1.0) : 0.0;
        vec2 d = q - t * e;
        best = min(best, dot(d, d));
        a = b;
    }
    return best;
}

void main() {
    // gl_FragCoord is the pixel centre (i + 0.5, j + 0.5), row 0 the image's top row.
    float alpha = clamp(sqrt(ring_distance2(gl_FragCoord.xy - v_offset)) / u_feather, 0.0, 1.0);
    color = vec4(shaded(v_uv), alpha);
}
