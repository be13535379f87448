#version 330 core
// eymo: samples the unmodified input frame, recolours it, and outputs a feathered alpha that
// rises from 0 on the item's outline to 1 at u_feather pixels inside it (blended by the caller
// with SRC_ALPHA / ONE_MINUS_SRC_ALPHA). The reference is calculators/eymo/geometry.py
// (DrawItem.shade and DrawItem.coverage).
#include "lib/color.glsl"

#define MAX_RING 64

uniform sampler2D u_texture;
uniform vec2 u_ring[MAX_RING];  // the outline in output pixels, copy at offset (0, 0)
uniform int u_ring_size;
uniform float u_feather;        // width of the soft edge, pixels
uniform float u_brightness;
uniform float u_saturation;
uniform vec3 u_channels;

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
    vec3 rgb = texture(u_texture, v_uv).rgb;
    rgb = adjust_saturation(rgb, u_saturation) * u_channels * u_brightness;
    color = vec4(clamp(rgb, 0.0, 1.0), alpha);
}
