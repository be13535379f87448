// Test include with a compile error on line 4.
vec3 broken(vec3 c) {
    float unused = 1.0;
    return c * undeclared_factor;
}
