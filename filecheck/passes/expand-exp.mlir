// RUN: tc-opt %s -p expand-exp | filecheck %s

// f32: clamp, n = roundeven(x log2 e), two-step reduction, degree-7 polynomial,
// 2^n as two exponent-bit factors, NaN passed through.
// CHECK-LABEL: func.func @exp_f32(
// CHECK-SAME:      %[[X:.*]]: f32
// CHECK-NOT:     math.exp
// CHECK:         %[[LO:.*]] = arith.maximumf %[[X]], %{{.*}} : f32
// CHECK:         %[[C:.*]] = arith.minimumf %[[LO]], %{{.*}} : f32
// CHECK:         %[[T:.*]] = arith.mulf %[[C]], %{{.*}} : f32
// CHECK:         %[[N:.*]] = math.roundeven %[[T]] : f32
// CHECK-COUNT-7: arith.addf
// CHECK:         %[[SHIFTED:.*]] = arith.addf %[[N]], %{{.*}} : f32
// CHECK-NEXT:    %[[BITS:.*]] = arith.bitcast %[[SHIFTED]] : f32 to i32
// CHECK-NEXT:    %[[MAGIC:.*]] = arith.constant 1262485504 : i32
// CHECK-NEXT:    %[[K:.*]] = arith.subi %[[BITS]], %[[MAGIC]] : i32
// CHECK:         %[[H:.*]] = arith.shrsi %[[K]], %{{.*}} : i32
// CHECK:         arith.subi %[[K]], %[[H]] : i32
// CHECK:         arith.shli
// CHECK:         arith.bitcast %{{.*}} : i32 to f32
// CHECK:         arith.shli
// CHECK:         arith.bitcast %{{.*}} : i32 to f32
// CHECK:         %[[NAN:.*]] = arith.cmpf uno, %[[X]], %[[X]] : f32
// CHECK:         %[[R:.*]] = arith.select %[[NAN]], %[[X]], %{{.*}} : f32
// CHECK:         func.return %[[R]] : f32
func.func @exp_f32(%x: f32) -> f32 {
  %y = math.exp %x : f32
  func.return %y : f32
}

// f64: the same with a degree-13 polynomial and i64 exponent bits.
// CHECK-LABEL: func.func @exp_f64(
// CHECK-NOT:     math.exp
// CHECK-COUNT-13: arith.addf %{{.*}} : f64
// CHECK:         arith.bitcast %{{.*}} : f64 to i64
// CHECK-NEXT:    arith.constant 4843621399236968448 : i64
// CHECK-NEXT:    arith.subi
// CHECK:         arith.bitcast %{{.*}} : i64 to f64
func.func @exp_f64(%x: f64) -> f64 {
  %y = math.exp %x : f64
  func.return %y : f64
}

// Narrow floats are left to convert-math-to-llvm.
// CHECK-LABEL: func.func @exp_f16(
// CHECK:         math.exp %{{.*}} : f16
func.func @exp_f16(%x: f16) -> f16 {
  %y = math.exp %x : f16
  func.return %y : f16
}
