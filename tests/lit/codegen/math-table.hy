# RUN: hyc %s --emit=llvm-raw | filecheck %s
# Math goes through the target's table: on the CPU, LLVM's intrinsics.

def f(x: f32[8], y: f64[8]) -> f32[8]:
    return tanh(x) + exp(x) + cast(sqrt(y), f32)

# CHECK-LABEL: define internal i32 @"hyc_packed_f.body"
# CHECK-DAG: call float @"llvm.tanh.f32"
# CHECK-DAG: call float @"llvm.exp.f32"
# CHECK-DAG: call double @"llvm.sqrt.f64"
# CHECK-DAG: declare float @"llvm.tanh.f32"(float
