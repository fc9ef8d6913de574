// RUN: not tc-opt %s --split-input-file --verify-diagnostics 2>&1 >/dev/null | filecheck %s
// As in MLIR, --verify-diagnostics fails (exit 1) when an expected diagnostic is not
// produced, or when one is produced that no annotation expects; lines count from the
// start of the file.

func.func @fine() {
  // expected-error @+1 {{this error is not produced}}
  func.return
}
// CHECK: verify-diagnostics-fails.mlir:7:6: error: expected error "this error is not produced" was not produced

// -----

func.func @wrong_line() -> i32 {
  // expected-error @+1 {{Expected arguments to have the same types}}
  %0 = arith.constant 1 : i32
  func.return
}
// CHECK: verify-diagnostics-fails.mlir:15:6: error: expected error "Expected arguments to have the same types" was not produced

// -----

func.func @unexpected() -> i32 {
  func.return
}
// CHECK: verify-diagnostics-fails.mlir:17:3: error: unexpected error: Expected arguments to have the same types
// CHECK: verify-diagnostics-fails.mlir:24:3: error: unexpected error: Expected arguments to have the same types
