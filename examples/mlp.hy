# mlp.hy — the chapter's MLP: 512 -> 256 (relu) -> 128 (relu) -> 2
def mlp(x: f32[N, 512],
        w1: f32[512, 256], b1: f32[256],
        w2: f32[256, 128], b2: f32[128],
        w3: f32[128, 2], b3: f32[2]) -> f32[N, 2]:
    h1 = relu(x @ w1 + b1)
    h2 = relu(h1 @ w2 + b2)
    return h2 @ w3 + b3
