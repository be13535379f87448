// eymo: the colour operations of a draw item (calculators/eymo/geometry.py, DrawItem.shade).
#include "lib/color.glsl"

uniform sampler2D u_texture;
uniform float u_brightness;
uniform float u_saturation;
uniform vec3 u_channels;

// The input frame at uv, recoloured: saturation about the luma, then channels and brightness.
vec3 shaded(vec2 uv) {
    vec3 rgb = texture(u_texture, uv).rgb;
    return clamp(adjust_saturation(rgb, u_saturation) * u_channels * u_brightness, 0.0, 1.0);
}
