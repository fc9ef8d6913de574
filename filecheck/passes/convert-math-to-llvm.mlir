// RUN: tc-opt %s -p convert-math-to-llvm | filecheck %s

// libm functions are declared once per module, `f`-suffixed for f32.
// CHECK-DAG:   llvm.func @tanhf(f32) -> f32
// CHECK-DAG:   llvm.func @atan2(f64, f64) -> f64
// CHECK-DAG:   llvm.func @j0f(f32) -> f32
// CHECK-DAG:   llvm.func @lgammaf(f32) -> f32
// CHECK-DAG:   llvm.func @hypot(f64, f64) -> f64
// CHECK-DAG:   llvm.func @erf(f64) -> f64
// CHECK-DAG:   llvm.func @erfc(f64) -> f64

// Intrinsics always go through llvm.call_intrinsic with the type-mangled name.
// CHECK-LABEL: func.func @intrinsics
// CHECK-SAME:    (%[[X:.*]]: f32, %[[Y:.*]]: f64)
// CHECK-NEXT:    %[[SQRT:.*]] = llvm.call_intrinsic "llvm.sqrt.f32"(%[[X]]) : (f32) -> f32
// CHECK-NEXT:    %[[ABS:.*]] = llvm.call_intrinsic "llvm.fabs.f32"(%[[SQRT]]) : (f32) -> f32
// CHECK-NEXT:    %[[POW:.*]] = llvm.call_intrinsic "llvm.pow.f32"(%[[ABS]], %[[X]]) : (f32, f32) -> f32
// CHECK-NEXT:    %[[FMA:.*]] = llvm.call_intrinsic "llvm.fma.f32"(%[[POW]], %[[X]], %[[X]]) : (f32, f32, f32) -> f32
// CHECK-NEXT:    %[[ROUND:.*]] = llvm.call_intrinsic "llvm.round.f64"(%[[Y]]) : (f64) -> f64
// CHECK-NEXT:    %[[LOG:.*]] = llvm.call_intrinsic "llvm.log10.f64"(%[[ROUND]]) : (f64) -> f64
// CHECK-NEXT:    %[[EVEN:.*]] = llvm.call_intrinsic "llvm.roundeven.f64"(%[[LOG]]) : (f64) -> f64
// CHECK-NEXT:    func.return %[[FMA]], %[[EVEN]] : f32, f64
func.func @intrinsics(%x: f32, %y: f64) -> (f32, f64) {
  %0 = math.sqrt %x : f32
  %1 = math.absf %0 : f32
  %2 = math.powf %1, %x : f32
  %3 = math.fma %2, %x, %x : f32
  %4 = math.round %y : f64
  %5 = math.log10 %4 : f64
  %6 = math.roundeven %5 : f64
  func.return %3, %6 : f32, f64
}

// CHECK-LABEL: func.func @libm
// CHECK-SAME:    (%[[X:.*]]: f32, %[[Y:.*]]: f64)
// CHECK-NEXT:    %[[T:.*]] = llvm.call @tanhf(%[[X]]) : (f32) -> f32
// CHECK-NEXT:    %[[A:.*]] = llvm.call @atan2(%[[Y]], %[[Y]]) : (f64, f64) -> f64
// CHECK-NEXT:    %[[J:.*]] = llvm.call @j0f(%[[T]]) : (f32) -> f32
// CHECK-NEXT:    func.return %[[T]], %[[A]], %[[J]] : f32, f64, f32
func.func @libm(%x: f32, %y: f64) -> (f32, f64, f32) {
  %0 = math.tanh %x : f32
  %1 = math.atan2 %y, %y : f64
  %2 = tc.builtin "j0"(%0) : (f32) -> f32
  func.return %0, %1, %2 : f32, f64, f32
}

// f16 and bf16 are computed in f32 and rounded back.
// CHECK-LABEL: func.func @narrow
// CHECK-SAME:    (%[[H:.*]]: f16, %[[B:.*]]: bf16)
// CHECK-NEXT:    %[[BBITS:.*]] = builtin.unrealized_conversion_cast %[[B]] : bf16 to i16
// CHECK-NEXT:    %[[HW:.*]] = llvm.fpext %[[H]] : f16 to f32
// CHECK-NEXT:    %[[E:.*]] = llvm.call_intrinsic "llvm.exp.f32"(%[[HW]]) : (f32) -> f32
// CHECK-NEXT:    %[[EH:.*]] = llvm.fptrunc %[[E]] : f32 to f16
// CHECK:         %[[BW:.*]] = llvm.bitcast %{{.*}} : i32 to f32
// CHECK-NEXT:    %[[L:.*]] = llvm.call @lgammaf(%[[BW]]) : (f32) -> f32
// CHECK:         %[[LB:.*]] = llvm.trunc %{{.*}} : i32 to i16
// CHECK-NEXT:    %[[LBF:.*]] = builtin.unrealized_conversion_cast %[[LB]] : i16 to bf16
// CHECK-NEXT:    func.return %[[EH]], %[[LBF]] : f16, bf16
func.func @narrow(%h: f16, %b: bf16) -> (f16, bf16) {
  %0 = math.exp %h : f16
  %1 = tc.builtin "lgamma"(%b) : (bf16) -> bf16
  func.return %0, %1 : f16, bf16
}

// rsqrt and norm3d are computed in f64 for f32 (then rounded once); fdivide is x / y.
// CHECK-LABEL: func.func @computed
// CHECK-SAME:    (%[[X:.*]]: f32, %[[Y:.*]]: f32)
// CHECK-NEXT:    %[[XD:.*]] = llvm.fpext %[[X]] : f32 to f64
// CHECK-NEXT:    %[[S:.*]] = llvm.call_intrinsic "llvm.sqrt.f64"(%[[XD]]) : (f64) -> f64
// CHECK-NEXT:    %[[ONE:.*]] = llvm.mlir.constant(1.000000e+00 : f64) : f64
// CHECK-NEXT:    %[[R:.*]] = llvm.fdiv %[[ONE]], %[[S]] : f64
// CHECK-NEXT:    %[[RSQRT:.*]] = llvm.fptrunc %[[R]] : f64 to f32
// CHECK-NEXT:    %[[DIV:.*]] = llvm.fdiv %[[X]], %[[Y]] : f32
// CHECK:         %[[H1:.*]] = llvm.call @hypot(%{{.*}}, %{{.*}}) : (f64, f64) -> f64
// CHECK-NEXT:    %[[H2:.*]] = llvm.call @hypot(%[[H1]], %{{.*}}) : (f64, f64) -> f64
// CHECK-NEXT:    %[[NORM:.*]] = llvm.fptrunc %[[H2]] : f64 to f32
// CHECK-NEXT:    func.return %[[RSQRT]], %[[DIV]], %[[NORM]] : f32, f32, f32
func.func @computed(%x: f32, %y: f32) -> (f32, f32, f32) {
  %0 = math.rsqrt %x : f32
  %1 = tc.builtin "fdivide"(%x, %y) : (f32, f32) -> f32
  %2 = tc.builtin "norm3d"(%x, %y, %x) : (f32, f32, f32) -> f32
  func.return %0, %1, %2 : f32, f32, f32
}

// erfinv: Giles' polynomial, then Newton steps using erf (and log(erfc) near +-1);
// 3 steps for f64.
// CHECK-LABEL: func.func @erfinv
// CHECK-COUNT-3: llvm.call @erf(
// CHECK-NOT:     llvm.call @erf(
// CHECK:         llvm.call_intrinsic "llvm.copysign.f64"
// CHECK:         func.return
func.func @erfinv(%x: f64) -> f64 {
  %0 = tc.builtin "erfinv"(%x) : (f64) -> f64
  func.return %0 : f64
}

// sinpi: exact reduction with frem by 2 and roundeven, sin/cos of pi*r.
// CHECK-LABEL: func.func @sinpi
// CHECK:         %[[TWO:.*]] = llvm.mlir.constant(2.000000e+00 : f64) : f64
// CHECK-NEXT:    %[[XR:.*]] = llvm.frem %{{.*}}, %[[TWO]] : f64
// CHECK:         llvm.call_intrinsic "llvm.roundeven.f64"
// CHECK:         llvm.call_intrinsic "llvm.sin.f64"
// CHECK:         llvm.call_intrinsic "llvm.cos.f64"
// CHECK:         llvm.fptrunc %{{.*}} : f64 to f32
func.func @sinpi(%x: f32) -> f32 {
  %0 = tc.builtin "sinpi"(%x) : (f32) -> f32
  func.return %0 : f32
}

// CHECK-LABEL: func.func @integer
// CHECK-SAME:    (%[[A:.*]]: i32)
// CHECK-NEXT:    %[[F:.*]] = llvm.mlir.constant(false) : i1
// CHECK-NEXT:    %[[CTLZ:.*]] = llvm.call_intrinsic "llvm.ctlz.i32"(%[[A]], %[[F]]) : (i32, i1) -> i32
// CHECK:         %[[ABS:.*]] = llvm.call_intrinsic "llvm.abs.i32"(%[[A]], %{{.*}}) : (i32, i1) -> i32
// CHECK-NEXT:    %[[POP:.*]] = llvm.call_intrinsic "llvm.ctpop.i32"(%[[A]]) : (i32) -> i32
// CHECK-NEXT:    func.return %[[CTLZ]], %[[ABS]], %[[POP]]
func.func @integer(%a: i32) -> (i32, i32, i32) {
  %0 = math.ctlz %a : i32
  %1 = math.absi %a : i32
  %2 = math.ctpop %a : i32
  func.return %0, %1, %2 : i32, i32, i32
}
