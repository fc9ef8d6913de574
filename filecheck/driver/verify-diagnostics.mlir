// RUN: tc-opt %s --split-input-file --verify-diagnostics -p lower-affine
// RUN: tc-opt %s --split-input-file --verify-diagnostics -p lower-affine | filecheck %s
// MLIR's --verify-diagnostics: every `expected-error` is produced, on its line (counted
// from the start of the file, whatever the chunk), and nothing else is; the messages
// are also printed on stdout, as xdsl-opt does, for FileCheck.

func.func @f() -> i32 {
  %0 = arith.constant 1 : i32
  // expected-error @+1 {{Expected arguments to have the same types as the function output types}}
  func.return
}
// CHECK: verify-diagnostics.mlir:10:3: error: Expected arguments to have the same types as the function output types

// -----

// Parametric affine IR: xDSL's lower-affine lowers constant bounds only.
func.func @parametric(%N: index, %A: memref<?xf32>) {
  // expected-error @below {{cannot lower `affine.for` to loops: its upper bound `s0` is not a constant}}
  affine.for %i = 0 to %N {
    %0 = affine.load %A[%i] : memref<?xf32>
  }
  func.return
}
// CHECK: verify-diagnostics.mlir:19:3: error: cannot lower `affine.for` to loops

// -----

// Lowers: no error (the short syntax's symbols are read as dimensions).
func.func @window(%A: memref<8xf32>, %B: memref<6xf32>) {
  affine.for %i = 0 to 6 {
    affine.for %j = 0 to 3 {
      %0 = affine.load %A[%i + %j] : memref<8xf32>
      affine.store %0, %B[%i] : memref<6xf32>
    }
  }
  func.return
}
// CHECK-LABEL: func.func @window
// CHECK:         %[[SUM:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK-NEXT:    memref.load %A[%[[SUM]]] : memref<8xf32>

// -----

func.func @g() {
  // expected-error @+1 {{Operation tc.nothing is not registered}}
  "tc.nothing"() : () -> ()
  func.return
}
