# RUN: hyc %s --emit=asm --mtriple=aarch64-linux-gnu | filecheck %s
# A cross build: AArch64 assembly, exp through libm, the packed entry point exported.

def predict(x: f32[16]) -> f32[16]:
    return sigmoid(x)

# CHECK: .globl hyc_packed_predict
# CHECK: hyc_packed_predict:
# CHECK: bl expf
# CHECK-NOT: {{%xmm|%ymm}}
