# RUN: hyc %s --emit=llvm-raw | filecheck %s
# A dispatched body is an internal, always-inlined function of the point and the captured
# values; the dispatch runs its outermost range on threads when the work is large.

def scale(x: f32[N, 4], s: f32) -> f32[N, 4]:
    return x * s

# CHECK-LABEL: define internal i32 @"hyc_packed_scale.body"
# CHECK: call i64 @"hyc_pool_threads"()
# CHECK: call void @"hyc_pool_run"({{.*}} @"[[RANGE:hyc_packed_scale.body.parallel[0-9.]*]]"
# CHECK: define internal void @"hyc_packed_scale.parallel0"(i64 %".1", i64 %".2", float* %".3", i64 %".4", i64 %".5", float %".6", float* %".7", i64 %".8", i64 %".9") alwaysinline
# CHECK: define internal void @"[[RANGE]]"(i64* %".1", i64 %".2", i64 %".3")
# CHECK: call void @"hyc_packed_scale.parallel0"
