# RUN: hyc %s -O2 --target=gpu --gpu-arch=sm_90 --emit=ptx | filecheck %s
# The tiled matmul kernel in PTX: its tiles in shared memory (.shared, st.shared/ld.shared),
# the two barriers (bar.sync 0) around the multiply, the multiply-adds fused (fma.rn), the
# epilogue's relu and the store to global memory.

def f(a: f32[M, K], b: f32[K, N], c: f32[N]) -> f32[M, N]:
    return relu(a @ b + c)

# CHECK: .target sm_90
# CHECK: .entry f_matmul(
# CHECK: .shared .align 16 .b8 {{f_matmul_\$_shared[0-9]+}}[4096];
# CHECK: .shared .align 16 .b8 {{f_matmul_\$_shared[0-9]+}}[4096];
# CHECK: mov.u32 {{.*}}%tid.x;
# CHECK: ld.global.b32
# CHECK: st.shared.b32
# CHECK: bar.sync 0;
# CHECK: ld.shared.b32
# CHECK: fma.rn.f32
# CHECK: bar.sync 0;
# CHECK: selp.f32 {{.*}}0f00000000
# CHECK: st.global.b32
