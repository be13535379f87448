#version 330 core
// One triangle that covers the target; uv (0,0) is the image's top-left pixel corner,
// since texture row 0 is the image's top row in graphflow.
out vec2 uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID & 1) << 2), float((gl_VertexID & 2) << 1));
    uv = corner * 0.5;
    gl_Position = vec4(corner - 1.0, 0.0, 1.0);
}
