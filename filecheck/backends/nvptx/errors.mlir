// RUN: not TC_NVPTX %s 2>&1 | filecheck %s

// A module without gpu.module (here: the CPU's loops stage) has nothing for the GPU.
// CHECK: errors.mlir: error: the module has no gpu.module: nothing to compile for the GPU
func.func @f(%A: memref<4xf32>) {
  func.return
}
