# fancy.hy — the imperative example of the book chapter
def add(a: f32, b: f32) -> f32:
    return a + b

def fancy_func(a: f32, b: f32, c: f32, d: f32) -> f32:
    e = add(a, b)
    f = add(c, d)
    g = add(e, f)
    return g

def main():
    print(fancy_func(1.0, 2.0, 3.0, 4.0))
