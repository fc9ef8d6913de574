// RUN: tc-opt %s --split-input-file --verify-diagnostics

// Verifier errors of the tcgpu ops, one per split.

func.func @f(%A : memref<64x64xf32>, %s : memref<16x16xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy: 1 indices for the source memref<64x64xf32> of rank 2}}
  tcgpu.async_copy %A[%i], %s[%i, %i], 1 : memref<64x64xf32> to memref<16x16xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64x64xf32>, %s : memref<16x16xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy: 3 indices for the destination memref<16x16xf32, 3 : i64> of rank 2}}
  tcgpu.async_copy %A[%i, %i], %s[%i, %i, %i], 1 : memref<64x64xf32> to memref<16x16xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xf32>, %B : memref<64xf32>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy copies from global memory to shared memory (memory space 3), not from memref<64xf32> to memref<64xf32>}}
  tcgpu.async_copy %A[%i], %B[%i], 4 : memref<64xf32> to memref<64xf32>
  func.return
}

// -----

func.func @f(%s : memref<64xf32, 3 : i64>, %t : memref<64xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy copies from global memory to shared memory (memory space 3), not from memref<64xf32, 3 : i64> to memref<64xf32, 3 : i64>}}
  tcgpu.async_copy %s[%i], %t[%i], 4 : memref<64xf32, 3 : i64> to memref<64xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xf32>, %s : memref<64xi32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy: the source's elements are f32, the destination's i32}}
  tcgpu.async_copy %A[%i], %s[%i], 4 : memref<64xf32> to memref<64xi32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xf32>, %s : memref<64xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy moves 4, 8 or 16 bytes: 3 elements of f32}}
  tcgpu.async_copy %A[%i], %s[%i], 3 : memref<64xf32> to memref<64xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xf16>, %s : memref<64xf16, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy moves 4, 8 or 16 bytes: 1 elements of f16}}
  tcgpu.async_copy %A[%i], %s[%i], 1 : memref<64xf16> to memref<64xf16, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xf32>, %s : memref<64xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy moves 4, 8 or 16 bytes: 0 elements of f32}}
  tcgpu.async_copy %A[%i], %s[%i], 0 : memref<64xf32> to memref<64xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64xcomplex<f32>>, %s : memref<64xcomplex<f32>, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy moves 4, 8 or 16 bytes: 1 elements of complex<f32>}}
  tcgpu.async_copy %A[%i], %s[%i], 1 : memref<64xcomplex<f32>> to memref<64xcomplex<f32>, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64x64xf32, strided<[1, 64]>>, %s : memref<16x16xf32, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy of 4 elements needs a contiguous innermost dimension in memref<64x64xf32, strided<[1, 64]>>}}
  tcgpu.async_copy %A[%i, %i], %s[%i, %i], 4 : memref<64x64xf32, strided<[1, 64]>> to memref<16x16xf32, 3 : i64>
  func.return
}

// -----

func.func @f(%A : memref<64x64xf32>, %s : memref<16x16xf32, strided<[32, 2]>, 3 : i64>, %i : index) {
  // expected-error @+1 {{tcgpu.async_copy of 2 elements needs a contiguous innermost dimension in memref<16x16xf32, strided<[32, 2]>, 3 : i64>}}
  tcgpu.async_copy %A[%i, %i], %s[%i, %i], 2 : memref<64x64xf32> to memref<16x16xf32, strided<[32, 2]>, 3 : i64>
  func.return
}

// -----

func.func @f() {
  // expected-error @+1 {{tcgpu.async_wait: -1 groups cannot stay pending}}
  tcgpu.async_wait -1
  func.return
}
