# RUN: hyc %s -O2 --target=gpu --emit=ptx | filecheck %s
# An elementwise kernel whose last axis is a constant multiple of 4: each thread reads and
# writes 4 neighbouring elements at once (buffer parameters are 16-byte aligned).

def f(x: f32[N, 512], b: f32[512]) -> f32[N, 512]:
    return relu(x * 2.0 + b)

# CHECK: .entry f_parallel0_kernel(
# CHECK: .param .u64 .ptr .global .align 16
# CHECK: ld.global.v4.b32
# CHECK: ld.global.v4.b32
# CHECK: fma.rn.f32
# CHECK: st.global.v4.b32
