// RUN: tc-opt %s | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt --print-op-generic | filecheck %s --check-prefix=GENERIC

// The custom syntax of the tcgpu ops, printed back after a round trip through the custom
// and the generic form: copies of 16, 8 and 4 bytes (f32 quads, f16 and i8 runs, a
// strided source with a contiguous innermost dimension, one f32, 16 one-byte lowp
// elements), commits, waits.

// CHECK-LABEL: func.func @pipeline(
func.func @pipeline(%A : memref<64x64xf32>, %H : memref<64xf16>, %Q : memref<64xi8>,
                    %S : memref<8x8xf32, strided<[128, 1], offset: 4>>, %E : memref<64x!lowp.float<e4m3, fn>>, %i : index, %j : index) {
  %s = memref.alloca() : memref<2x16x16xf32, 3 : i64>
  %h = memref.alloca() : memref<16xf16, 3 : i64>
  %q = memref.alloca() : memref<16xi8, 3 : i64>
  %e = memref.alloca() : memref<16x!lowp.float<e4m3, fn>, 3 : i64>
  // CHECK:      tcgpu.async_copy %A[%i, %j], %s[%i, %i, %j], 4 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
  // CHECK-NEXT: tcgpu.async_copy %H[%j], %h[%i], 4 : memref<64xf16> to memref<16xf16, 3 : i64>
  // CHECK-NEXT: tcgpu.async_copy %Q[%j], %q[%i], 4 : memref<64xi8> to memref<16xi8, 3 : i64>
  // CHECK-NEXT: tcgpu.async_copy %S[%i, %j], %s[%j, %i, %j], 2 : memref<8x8xf32, strided<[128, 1], offset: 4>> to memref<2x16x16xf32, 3 : i64>
  // CHECK-NEXT: tcgpu.async_copy %A[%j, %i], %s[%i, %j, %i], 1 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
  // CHECK-NEXT: tcgpu.async_copy %E[%j], %e[%i], 16 : memref<64x!lowp.float<e4m3, fn>> to memref<16x!lowp.float<e4m3, fn>, 3 : i64>
  // CHECK-NEXT: tcgpu.async_commit
  // CHECK-NEXT: tcgpu.async_commit
  // CHECK-NEXT: tcgpu.async_wait 1
  // CHECK-NEXT: tcgpu.async_wait 0
  tcgpu.async_copy %A[%i, %j], %s[%i, %i, %j], 4 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
  tcgpu.async_copy %H[%j], %h[%i], 4 : memref<64xf16> to memref<16xf16, 3 : i64>
  tcgpu.async_copy %Q[%j], %q[%i], 4 : memref<64xi8> to memref<16xi8, 3 : i64>
  tcgpu.async_copy %S[%i, %j], %s[%j, %i, %j], 2 : memref<8x8xf32, strided<[128, 1], offset: 4>> to memref<2x16x16xf32, 3 : i64>
  tcgpu.async_copy %A[%j, %i], %s[%i, %j, %i], 1 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
  tcgpu.async_copy %E[%j], %e[%i], 16 : memref<64x!lowp.float<e4m3, fn>> to memref<16x!lowp.float<e4m3, fn>, 3 : i64>
  tcgpu.async_commit
  tcgpu.async_commit
  tcgpu.async_wait 1
  tcgpu.async_wait 0
  func.return
}

// GENERIC-LABEL: "func.func"() <{sym_name = "pipeline"
// GENERIC:         "tcgpu.async_copy"(%A, %i, %j, %s, %i, %i, %j) <{elements = 4 : i64, operandSegmentSizes = array<i32: 1, 2, 1, 3>}> : (memref<64x64xf32>, index, index, memref<2x16x16xf32, 3 : i64>, index, index, index) -> ()
// GENERIC:         "tcgpu.async_commit"() : () -> ()
// GENERIC:         "tcgpu.async_wait"() <{pending = 1 : i64}> : () -> ()
