# RUN: hyc %s --emit=target | filecheck %s
# The CPU target's loop level: the parallel loop is outlined into a dispatched body, which
# the backend inlines into its loops (or into a range function run on threads).

def scale(x: f32[N, 4], s: f32) -> f32[N, 4]:
    return relu(x * s) + 1.0

# CHECK-LABEL: func.func @scale(
# CHECK: buf.check
# CHECK: buf.dispatch %{{[0-9]+}}, %{{[0-9]+}}, %x, %s, %out0 {body = @scale.parallel0, rank = 2}
# CHECK-LABEL: func.func @scale.parallel0(
# CHECK: hy.relu
# CHECK: buf.store
