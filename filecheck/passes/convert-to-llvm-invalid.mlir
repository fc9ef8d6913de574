// RUN: tc-opt %s --split-input-file --verify-diagnostics -p convert-arith-to-llvm,convert-math-to-llvm,convert-cf-to-llvm,convert-func-to-llvm | filecheck %s

// Input that convert-{arith,math,cf,func}-to-llvm reject, one case per split.

// CHECK: error: convert-func-to-llvm: argument of @f of type memref<4xf32> has no LLVM type (run convert-memref-to-llvm first): func.func @f
func.func @f(%m: memref<4xf32>) {
  func.return
}

// -----

// CHECK: error: convert-func-to-llvm: functions with 2 results are not supported: func.func @f
func.func @f(%x: f32) -> (f32, f32) {
  func.return %x, %x : f32, f32
}

// -----

// CHECK: error: convert-arith-to-llvm: vector and tensor operands are not supported: %{{.*}} = arith.addf
func.func @f(%v: vector<4xf32>) -> vector<4xf32> {
  %r = arith.addf %v, %v : vector<4xf32>
  func.return %r : vector<4xf32>
}

// -----

// CHECK: error: convert-arith-to-llvm: cannot lower arith.mulsi_extended
func.func @f(%a: i32) -> i32 {
  %lo, %hi = arith.mulsi_extended %a, %a : i32
  func.return %lo : i32
}

// -----

// CHECK: error: convert-math-to-llvm: cannot lower math.ipowi
func.func @f(%a: i32) -> i32 {
  %r = math.ipowi %a, %a : i32
  func.return %r : i32
}

// -----

// A definition named like a C library function the lowering needs.
// CHECK: error: the symbol @expm1f is taken; it is needed for the C library function expm1f
func.func @expm1f(%x: f32) -> f32 {
  %r = math.expm1 %x : f32
  func.return %r : f32
}
