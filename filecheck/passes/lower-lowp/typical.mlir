// RUN: tc-opt %s -p lower-lowp | filecheck %s
// RUN: tc-opt %s --emit llvm-ir | filecheck %s --check-prefix=IR

// A loop casting f32 to e4m3fn: memrefs of the format become memrefs of its storage
// integer, the cast a call of a generated routine, which is private, internal and
// always inlined; the routine computes on integers (arith), from the f32's bits.

// CHECK-LABEL: func.func @cast_loop
// CHECK-SAME:    (%[[X:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xi8>)
// CHECK:         scf.for %[[I:.*]] = {{.*}} {
// CHECK-NEXT:      %[[V:.*]] = memref.load %[[X]][%[[I]]] : memref<16xf32>
// CHECK-NEXT:      %[[W:.*]] = func.call @__lowp_cast_f32_to_e4m3fn_rne(%[[V]]) : (f32) -> i8
// CHECK-NEXT:      memref.store %[[W]], %[[Y]][%[[I]]] : memref<16xi8>
// CHECK-NOT:     lowp.
// CHECK-LABEL: func.func private @__lowp_cast_f32_to_e4m3fn_rne
// CHECK-SAME:    (%[[A:.*]]: f32) -> i8 attributes {llvm.linkage = #llvm.linkage<"internal">, passthrough = ["alwaysinline"]}
// CHECK-NEXT:    %[[BITS:.*]] = arith.bitcast %[[A]] : f32 to i32
// CHECK:         arith.shrui
// CHECK:         arith.trunci %{{.*}} : i32 to i8
// CHECK-NEXT:    func.return %{{.*}} : i8
// CHECK-NEXT:  }

// IR:          define void @"cast_loop"(ptr %{{.*}}, ptr %{{.*}})
// IR:            call ccc i8 @"__lowp_cast_f32_to_e4m3fn_rne"(float
// IR:          define internal i8 @"__lowp_cast_f32_to_e4m3fn_rne"(float %{{.*}}) alwaysinline
func.func @cast_loop(%x: memref<16xf32>, %y: memref<16x!lowp.float<e4m3, fn>>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c16 step %c1 {
    %v = memref.load %x[%i] : memref<16xf32>
    %w = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
    memref.store %w, %y[%i] : memref<16x!lowp.float<e4m3, fn>>
  }
  func.return
}
