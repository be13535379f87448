// eymo: the colour operations of a draw item (calculators/eymo/geometry.py, DrawItem.shade).
#include "lib/color.glsl"

uniform sampler2D u_texture;
uniform vec4 u_colour;  // rgb: channels times brightness; a: saturation

// The input frame at uv, recoloured: saturation about the luma, then channels and brightness.
vec3 shaded(vec2 uv) {
    vec3 rgb = texture(u_texture, uv).rgb;
    return clamp(adjust_saturation(rgb, u_colour.a) * u_colour.rgb, 0.0, 1.0);
}
