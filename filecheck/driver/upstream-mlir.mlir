// RUN: tc-opt %s --split-input-file | filecheck %s
// RUN: tc-opt %s --split-input-file --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: tc-opt %s --split-input-file | tc-opt --split-input-file | filecheck %s
// RUN: tc-opt %s --split-input-file --print-op-generic | tc-opt --split-input-file | filecheck %s
// What upstream MLIR 19 prints, read by tc-opt (tc-opt's docstring, docs/tc-opt.md):
// its `llvm.intr.*` ops that xDSL lacks become the `llvm.call_intrinsic`s tcir's passes
// make, its casts xDSL lacks tcir's expansions, its generic property forms xDSL's; and
// what tc-opt prints is again what MLIR 19 reads.

// CHECK-LABEL: llvm.func @intrinsics(%a: f32, %b: f32, %i: i32, %j: i32) -> f32
// CHECK-NEXT:    %[[MAX:.*]] = llvm.call_intrinsic "llvm.maximum.f32"(%a, %b) : (f32, f32) -> f32
// CHECK-NEXT:    %[[TRUNC:.*]] = llvm.call_intrinsic "llvm.trunc.f32"(%[[MAX]]) : (f32) -> f32
// CHECK-NEXT:    %[[FALSE:.*]] = llvm.mlir.constant(false) : i1
// CHECK-NEXT:    %[[ABS:.*]] = llvm.call_intrinsic "llvm.abs.i32"(%i, %[[FALSE]]) : (i32, i1) -> i32
// CHECK-NEXT:    %[[SMAX:.*]] = llvm.call_intrinsic "llvm.smax.i32"(%[[ABS]], %j) : (i32, i32) -> i32
// CHECK-NEXT:    %[[TRUE:.*]] = llvm.mlir.constant(true) : i1
// CHECK-NEXT:    llvm.call_intrinsic "llvm.ctlz.i32"(%[[SMAX]], %[[TRUE]]) : (i32, i1) -> i32
// CHECK-NEXT:    %[[FABS:.*]] = llvm.intr.fabs(%[[TRUNC]]) : (f32) -> f32
// CHECK-NEXT:    llvm.return %[[FABS]] : f32
llvm.func @intrinsics(%a: f32, %b: f32, %i: i32, %j: i32) -> f32 {
  %0 = llvm.intr.maximum(%a, %b)  : (f32, f32) -> f32
  %1 = llvm.intr.trunc(%0)  {fastmathFlags = #llvm.fastmath<fast>} : (f32) -> f32
  %2 = "llvm.intr.abs"(%i) <{is_int_min_poison = false}> : (i32) -> i32
  %3 = llvm.intr.smax(%2, %j)  : (i32, i32) -> i32
  %4 = "llvm.intr.ctlz"(%3) <{is_zero_poison = true}> : (i32) -> i32
  %5 = llvm.intr.fabs(%1)  : (f32) -> f32
  llvm.return %5 : f32
}

// -----

// Generic form: MLIR 19's overflow flags are `#llvm.overflow<...>` attributes (xDSL's
// an integer, which MLIR 19 rejects), its getelementptr has no `noWrapFlags`.
// CHECK-LABEL: llvm.func @flags(%a: i64, %b: i64, %p: !llvm.ptr) -> i64
// CHECK-NEXT:    %[[MUL:.*]] = llvm.mul %a, %b overflow<nsw> : i64
// CHECK-NEXT:    %[[ADD:.*]] = llvm.add %[[MUL]], %b : i64
// CHECK-NEXT:    llvm.getelementptr %p[%[[ADD]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// GENERIC-LABEL: sym_name = "flags"
// GENERIC:       "llvm.mul"(%a, %b) <{overflowFlags = #llvm.overflow<nsw>}> : (i64, i64) -> i64
// GENERIC-NEXT:  "llvm.add"(%{{.*}}, %b) : (i64, i64) -> i64
"llvm.func"() <{CConv = #llvm.cconv<ccc>, function_type = !llvm.func<i64 (i64, i64, ptr)>, linkage = #llvm.linkage<external>, sym_name = "flags", unnamed_addr = 0 : i64, visibility_ = 0 : i64}> ({
^bb0(%a: i64, %b: i64, %p: !llvm.ptr):
  %0 = "llvm.mul"(%a, %b) <{overflowFlags = #llvm.overflow<nsw>}> : (i64, i64) -> i64
  %1 = "llvm.add"(%0, %b) <{overflowFlags = #llvm.overflow<none>}> : (i64, i64) -> i64
  %2 = "llvm.getelementptr"(%p, %1) <{elem_type = f32, rawConstantIndices = array<i32: -2147483648>}> : (!llvm.ptr, i64) -> !llvm.ptr
  "llvm.return"(%1) : (i64) -> ()
}) : () -> ()

// -----

// CHECK-LABEL: llvm.func @casts(%x: f32, %d: f64, %i: i32) -> f16
// CHECK:         llvm.call_intrinsic "llvm.fptosi.sat.i32.f32"(%x) : (f32) -> i32
// CHECK:         llvm.call_intrinsic "llvm.fptoui.sat.i8.f32"(%x) : (f32) -> i8
// CHECK:         %[[WIDE:.*]] = llvm.zext %i : i32 to i64
// CHECK-NEXT:    llvm.sitofp %[[WIDE]] : i64 to f32
// CHECK-NOT:     llvm.fptrunc %d : f64 to f16
// CHECK:         llvm.fptrunc %{{.*}} : f32 to f16
llvm.func @casts(%x: f32, %d: f64, %i: i32) -> f16 {
  %0 = llvm.fptosi %x : f32 to i32
  %1 = llvm.fptoui %x : f32 to i8
  %2 = llvm.uitofp %i : i32 to f32
  %3 = llvm.fptrunc %d : f64 to f16
  llvm.return %3 : f16
}

// -----

// What upstream's convert-math-to-libm declares.
// CHECK: llvm.func @atan2f(f32, f32) -> f32 attributes {memory = #llvm.memory_effects<other = none, argMem = none, inaccessibleMem = none>, sym_visibility = "private"}
llvm.func @atan2f(f32, f32) -> f32 attributes {memory = #llvm.memory_effects<other = none, argMem = none, inaccessibleMem = none>, sym_visibility = "private"}

// -----

// A kernel as MLIR 19 prints it generically: `gpu.kernel` (xDSL's `kernel` property
// too, when printed), `arg_attrs` a property, the explicit `gpu.module_end`.
// CHECK-LABEL: builtin.module attributes {gpu.container_module}
// CHECK:         "gpu.func"() <{function_type = (memref<4xf32>) -> (), kernel}>
// CHECK:         }) {gpu.kernel, sym_name = "f", arg_attrs = [{llvm.noalias}]} : () -> ()
// CHECK-NEXT:    "gpu.module_end"() : () -> ()
// CHECK-NEXT:  }) : () -> ()
"builtin.module"() ({
  "gpu.module"() <{sym_name = "kernels"}> ({
    "gpu.func"() <{arg_attrs = [{llvm.noalias}], function_type = (memref<4xf32>) -> ()}> ({
    ^bb0(%arg0: memref<4xf32>):
      "gpu.return"() : () -> ()
    }) {gpu.kernel, sym_name = "f"} : () -> ()
    "gpu.module_end"() : () -> ()
  }) : () -> ()
}) {gpu.container_module} : () -> ()

// -----

// Affine IR in MLIR's short syntax: the subscripts parse into a map of symbols
// (`()[s0, s1] -> (s0 + s1)`), read as dimensions.
// CHECK-LABEL: func.func @window(%A: memref<8xf32>, %B: memref<6xf32>)
// CHECK:         affine.load %A[%{{.*}} + %{{.*}}] : memref<8xf32>
// GENERIC-LABEL: sym_name = "window"
// GENERIC:       "affine.load"(%A, %{{.*}}, %{{.*}}) <{map = affine_map<(d0, d1) -> ((d0 + d1))>}>
func.func @window(%A: memref<8xf32>, %B: memref<6xf32>) {
  affine.for %i = 0 to 6 {
    affine.for %j = 0 to 3 {
      %0 = affine.load %A[%i + %j] : memref<8xf32>
      affine.store %0, %B[%i] : memref<6xf32>
    }
  }
  func.return
}
