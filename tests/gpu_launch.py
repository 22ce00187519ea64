"""A launch for hand-written kernel tests: @f launches kernel @k on 2 blocks of 4 threads
over 8 floats; the kernel computes its thread's index %i (and %t, %b, %n, %base), then runs
BODY (replace it) with %x and %out."""

LAUNCH = """
func.func @f(%x: memref<8xf32>, %out: memref<8xf32>) {
  %one = hy.constant {value = dense<1> : index} : index
  %two = hy.constant {value = dense<2> : index} : index
  %four = hy.constant {value = dense<4> : index} : index
  gpu.launch %two, %one, %one, %four, %one, %one, %x, %out {kernel = @k} : (index, index, index, index, index, index, memref<8xf32>, memref<8xf32>) -> ()
  func.return
}
func.func @k(%x: memref<8xf32>, %out: memref<8xf32>) attributes {kernel = true} {
  %t = gpu.thread_id {dim = 0} : index
  %b = gpu.block_id {dim = 0} : index
  %n = gpu.block_dim {dim = 0} : index
  %base = hy.mul %b, %n : index
  %i = hy.add %base, %t : index
  BODY
  func.return
}
"""
