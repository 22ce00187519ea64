# RUN: hyc %s -O2 --target=gpu --emit=ptx | filecheck %s
# A block reduction in PTX: warp shuffles (shfl.sync.down on the whole warp, a 64-bit value
# in two halves; max propagating NaN as numpy does), the warps' values in shared memory
# around bar.sync, the partial result stored by thread 0.

def f(x: f64[N]) -> f64:
    return max(x)

# CHECK: .entry f_reduce(
# CHECK: .shared .align 16 .b8 {{f_reduce_\$_shared[0-9]+}}[256];
# CHECK: ld.global.b64
# CHECK: setp.nan.f64
# CHECK: shfl.sync.down.b32 {{.*}}, 16, 31, -1;
# CHECK: shfl.sync.down.b32 {{.*}}, 16, 31, -1;
# CHECK: shfl.sync.down.b32 {{.*}}, 1, 31, -1;
# CHECK: st.shared.b64
# CHECK: bar.sync 0;
# CHECK: ld.shared.b64
# CHECK: shfl.sync.down.b32
# CHECK: st.global.b64
# CHECK: .entry f_reduce_partials(
