// RUN: tc-opt %s -p 'convert-tc-to-affine{sizes="M=4,K=3,N=5,E=6,D=2,B=2,L=3,H=7" strides="matmul.A=1:4"}' | filecheck %s
// RUN: tc-opt %s -p convert-tc-to-affine | filecheck %s --check-prefix=PARAM

builtin.module {
  tc.def @selfread(%A : !tc.tensor<[N], f32>) -> (%P : !tc.tensor<[N], f32>) {
    tc.stmt (%i in 0 to N) %P[%i] = {
      %0 = tc.read %A[%i] : f32
      tc.yield %0 : f32
    }
    tc.stmt (%i in 1 to N) %P[%i] = {
      %0 = tc.read %P[%i] : f32
      %1 = tc.read %P[%i - 1] : f32
      %2 = arith.addf %0, %1 : f32
      tc.yield %2 : f32
    }
  }
  tc.def @imin(%A : !tc.tensor<[N, K], i32>, %U : !tc.tensor<[N, K], ui8>) -> (%L : !tc.tensor<[N], i32>, %H : !tc.tensor<[N], ui8>) {
    tc.stmt (%n in 0 to N, %k in 0 to K) %L[%n] min=! {
      %0 = tc.read %A[%n, %k] : i32
      tc.yield %0 : i32
    }
    tc.stmt (%n in 0 to N, %k in 0 to K) %H[%n] max=! {
      %0 = tc.read %U[%n, %k] : i8
      tc.yield %0 : i8
    }
  }
  tc.def @total(%A : !tc.tensor<[N], f32>) -> (%S : !tc.tensor<[], f32>) {
    tc.stmt (%i in 0 to N) %S[] +=! {
      %0 = tc.read %A[%i] : f32
      tc.yield %0 : f32
    }
  }
  tc.def @matmul(%A : !tc.tensor<[M, K], f32>, %B : !tc.tensor<[K, N], f32>) -> (%C : !tc.tensor<[M, N], f32>) {
    tc.stmt (%m in 0 to M, %n in 0 to N, %r_k in 0 to K) %C[%m, %n] +=! {
      %0 = tc.read %A[%m, %r_k] : f32
      %1 = tc.read %B[%r_k, %n] : f32
      %2 = arith.mulf %0, %1 : f32
      tc.yield %2 : f32
    }
  }
  tc.def @gather(%LUT : !tc.tensor<[E, D], f32>, %I : !tc.tensor<[B, L], i32>) -> (%O : !tc.tensor<[B, D], f32>) temporaries(%T : !tc.tensor<[B, L, D], f32>) {
    tc.stmt (%b in 0 to B, %l in 0 to L, %d in 0 to D) %T[%b, %l, %d] = {
      %0 = tc.read %I[%b, %l] : i32
      %1 = arith.index_cast %0 : i32 to index
      %2 = tc.read %LUT[%1, %d] : f32
      tc.yield %2 : f32
    }
    tc.stmt (%b in 0 to B, %d in 0 to D, %r_l in 0 to L) %O[%b, %d] +=! {
      %0 = tc.read %T[%b, %r_l, %d] : f32
      tc.yield %0 : f32
    }
  }
  tc.def @shifted(%X : !tc.tensor<[N], f32>) -> (%Y : !tc.tensor<[N], f32>) {
    tc.stmt (%t in 0 to N) %Y[%t] = {
      %0 = arith.index_cast %t : index to i32
      %1 = arith.constant 1 : i32
      %2 = arith.cmpi sge, %0, %1 : i32
      %3 = scf.if %2 -> (f32) {
        %4 = tc.read %X[%t - 1] : f32
        scf.yield %4 : f32
      } else {
        %5 = arith.constant 0.000000e+00 : f32
        scf.yield %5 : f32
      }
      tc.yield %3 : f32
    }
  }
  tc.def @pool(%I : !tc.tensor<[H], f32>) -> (%O : !tc.tensor<[(H - 2) floordiv 2 + 1], f32>) {
    tc.stmt (%h in 0 to (H - 2) floordiv 2 + 1, %r in 0 to 2) %O[%h] max=! {
      %0 = tc.read %I[%h * 2 + %r] : f32
      tc.yield %0 : f32
    }
  }
}


// A statement reading its own target elsewhere keeps TC's order (outputs, then reductions).
// CHECK-LABEL: func.func @selfread(%A: memref<5xf32>, %P: memref<5xf32>)
// CHECK:         affine.for %[[I:.*]] = 0 to 5 {
// CHECK:           affine.store %{{.*}}, %P[%[[I]]] : memref<5xf32>
// CHECK:         affine.for %[[J:.*]] = 1 to 5 {
// CHECK:           affine.load %P[%[[J]]]
// CHECK:           affine.load %P[%[[J]] + -1]

// Identities of min/max on signed and unsigned integers; unsigned element types become signless.
// CHECK-LABEL: func.func @imin(%A: memref<5x3xi32>, %U: memref<5x3xi8>, %L: memref<5xi32>, %H: memref<5xi8>)
// CHECK:         arith.constant 2147483647 : i32
// CHECK:         arith.minsi
// CHECK:         arith.constant 0 : i8
// CHECK:         arith.maxui

// A rank-0 target: no loops for the init, a 0-d memref.
// CHECK-LABEL: func.func @total(%A: memref<5xf32>, %S: memref<f32>)
// CHECK-NEXT:    %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    affine.store %[[Z]], %S[] : memref<f32>

// Init nest over the outputs, then reductions outside the contiguous output index;
// the strides option gives a strided layout.
// CHECK-LABEL: func.func @matmul(%A: memref<4x3xf32, strided<[1, 4]>>, %B: memref<3x5xf32>, %C: memref<4x5xf32>)
// CHECK:         affine.for %[[M0:.*]] = 0 to 4 {
// CHECK-NEXT:      affine.for %[[N0:.*]] = 0 to 5 {
// CHECK-NEXT:        %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:        affine.store %[[ZERO]], %C[%[[M0]], %[[N0]]]
// CHECK:         affine.for %[[M:.*]] = 0 to 4 {
// CHECK-NEXT:      affine.for %[[K:.*]] = 0 to 3 {
// CHECK-NEXT:        affine.for %[[N:.*]] = 0 to 5 {
// CHECK-NEXT:          %[[A:.*]] = affine.load %A[%[[M]], %[[K]]]
// CHECK-NEXT:          %[[B:.*]] = affine.load %B[%[[K]], %[[N]]]
// CHECK-NEXT:          %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT:          %[[OLD:.*]] = affine.load %C[%[[M]], %[[N]]]
// CHECK-NEXT:          %[[NEW:.*]] = arith.addf %[[OLD]], %[[P]] : f32
// CHECK-NEXT:          affine.store %[[NEW]], %C[%[[M]], %[[N]]]

// Temporaries are allocated and freed; indirect subscripts use memref.load.
// CHECK-LABEL: func.func @gather
// CHECK:         %[[T:.*]] = memref.alloc() : memref<2x3x2xf32>
// CHECK:         %[[IDX:.*]] = affine.load %I[%{{.*}}, %{{.*}}] : memref<2x3xi32>
// CHECK-NEXT:    %[[CAST:.*]] = arith.index_cast %[[IDX]] : i32 to index
// CHECK-NEXT:    memref.load %LUT[%[[CAST]], %{{.*}}] : memref<6x2xf32>
// CHECK:         memref.dealloc %[[T]] : memref<2x3x2xf32>

// The guarded read stays inside the scf.if.
// CHECK-LABEL: func.func @shifted
// CHECK:         scf.if %{{.*}} -> (f32) {
// CHECK-NEXT:      affine.load %X[%{{.*}} + -1] : memref<5xf32>

// CHECK-LABEL: func.func @pool(%I: memref<7xf32>, %O: memref<3xf32>)
// CHECK:         arith.constant 0xff800000 : f32
// CHECK:         affine.load %I[%{{.*}} * 2 + %{{.*}}] : memref<7xf32>
// CHECK:         arith.maximumf

// Parametric: sizes are leading index arguments and bound the loops through maps.
// PARAM-LABEL: func.func @gather(%E: index, %D: index, %B: index, %L: index, %LUT: memref<?x?xf32>, %I: memref<?x?xi32>, %O: memref<?x?xf32>)
// PARAM-NEXT:    %{{.*}} = memref.alloc(%B, %L, %D) : memref<?x?x?xf32>
// PARAM-LABEL: func.func @pool(%H: index, %I: memref<?xf32>, %O: memref<?xf32>)
// PARAM:         affine.for %{{.*}} = 0 to affine_map<(d0) -> ((((d0 + -2) floordiv 2) + 1))>(%H) {
