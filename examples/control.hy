# control.hy — real control flow compiles to loops and branches, not unrolling
def power(x: f32[N], n: i32) -> f32[N]:
    y = x
    for i in range(1, n):
        y = y * x
    return y

def normalize(x: f32[N], limit: f32) -> f32[N]:
    if sum(x) > limit:
        return x / sum(x)
    else:
        return x
