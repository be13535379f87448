#version 330 core
// eymo: the textured triangles of a draw item, each copy (tiling) with its own offset, at
// the item's depth. Positions are output pixels (x right, y down from the top-left corner); texture
// row 0 is the image's top row, so pixel y maps to clip y without a flip.
uniform vec2 u_size;      // output frame size, pixels
uniform vec2 u_src_size;  // input frame size, pixels
uniform float u_depth;    // the item's depth, NDC z (its band is marked at the same depth)

in vec2 in_dst;           // where the vertex lands, output pixels
in vec2 in_src;           // where it samples, input pixels
in vec2 in_offset;        // per instance: translation of this copy, output pixels

out vec2 v_uv;
flat out vec2 v_offset;

void main() {
    v_uv = in_src / u_src_size;
    v_offset = in_offset;
    gl_Position = vec4((in_dst + in_offset) / u_size * 2.0 - 1.0, u_depth, 1.0);
}
