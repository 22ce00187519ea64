# logistic.hy — logistic regression trained by gradient descent.
# The loop carries the weights and the bias from one step to the next.
def predict(x: f32[N, D], w: f32[D], b: f32) -> f32[N]:
    return sigmoid(x @ w + b)

def train(x: f32[N, D], y: f32[N], steps: i32, lr: f32) -> f32[D]:
    w = zeros_like(mean(x, axis=0))
    b = 0.0
    for step in range(steps):
        err = predict(x, w, b) - y
        w = w - lr * mean(transpose(x) * err, axis=1)
        b = b - lr * mean(err)
    return w
