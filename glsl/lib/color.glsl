// Colour helpers shared by graphflow's shaders.

// Rec. 601 luma of an RGB colour in [0, 1].
float luma(vec3 rgb) {
    return dot(rgb, vec3(0.299, 0.587, 0.114));
}

// Moves a colour away from (s > 1) or towards (s < 1) its luma grey.
vec3 adjust_saturation(vec3 rgb, float s) {
    return mix(vec3(luma(rgb)), rgb, s);
}
