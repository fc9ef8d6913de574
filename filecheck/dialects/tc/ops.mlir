// RUN: tc-opt %s | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt --print-op-generic | filecheck %s --check-prefix=GENERIC

// The custom syntax of the tc dialect, printed back after a round trip through the
// custom and the generic form.

// CHECK-LABEL: tc.def @matmul(%A : !tc.tensor<[M, K], f32>, %B : !tc.tensor<[K, N], f32>) -> (%C : !tc.tensor<[M, N], f32>) {
// CHECK-NEXT:    tc.stmt (%m in 0 to M, %n in 0 to N, %r_k in 0 to K) %C[%m, %n] +=! {
// CHECK-NEXT:      %[[A:.*]] = tc.read %A[%m, %r_k] : f32
// CHECK-NEXT:      %[[B:.*]] = tc.read %B[%r_k, %n] : f32
// CHECK-NEXT:      %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
// CHECK-NEXT:      tc.yield %[[P]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:  }

// GENERIC-LABEL: "tc.def"() <{sym_name = "matmul", num_inputs = 2 : i64, num_outputs = 1 : i64}> ({
// GENERIC-NEXT:  ^bb0(%A: !tc.tensor<[M, K], f32>, %B: !tc.tensor<[K, N], f32>, %C: !tc.tensor<[M, N], f32>):
// GENERIC-NEXT:    "tc.stmt"(%C) <{kind = "+", init, write_map = affine_map<(d0, d1, d2) -> (d0, d1)>, lower_bounds = [#tc.size<0>, #tc.size<0>, #tc.size<0>], upper_bounds = [#tc.size<M>, #tc.size<N>, #tc.size<K>]}> ({
// GENERIC-NEXT:    ^bb0(%m: index, %n: index, %r_k: index):
// GENERIC-NEXT:      %{{.*}} = "tc.read"(%A, %m, %r_k) <{map = affine_map<(d0, d1) -> (d0, d1)>}> : (!tc.tensor<[M, K], f32>, index, index) -> f32
tc.def @matmul(%A : !tc.tensor<[M, K], f32>, %B : !tc.tensor<[K, N], f32>) -> (%C : !tc.tensor<[M, N], f32>) {
  tc.stmt (%m in 0 to M, %n in 0 to N, %r_k in 0 to K) %C[%m, %n] +=! {
    %0 = tc.read %A[%m, %r_k] : f32
    %1 = tc.read %B[%r_k, %n] : f32
    %2 = arith.mulf %0, %1 : f32
    tc.yield %2 : f32
  }
}

// Every kind, with and without `!`; iterator names restart in each statement.
// CHECK-LABEL: tc.def @kinds(%X : !tc.tensor<[N, R], f64>) -> (%S : !tc.tensor<[N], f64>, %P : !tc.tensor<[N], f64>, %L : !tc.tensor<[N], f64>, %H : !tc.tensor<[N], f64>) {
// CHECK:         tc.stmt (%n in 0 to N) %S[%n] = {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %S[%n] += {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %S[%n] +=! {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %P[%n] *=! {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %P[%n] *= {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %L[%n] min=! {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %L[%n] min= {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %H[%n] max=! {
// CHECK:         tc.stmt (%n in 0 to N, %r in 0 to R) %H[%n] max= {
// CHECK-NEXT:      %[[V:.*]] = tc.read %X[%n, %r] : f64
// CHECK-NEXT:      tc.yield %[[V]] : f64
// GENERIC-LABEL: "tc.def"() <{sym_name = "kinds"
// GENERIC:         "tc.stmt"(%S) <{kind = "=", write_map
// GENERIC:         "tc.stmt"(%S) <{kind = "+", write_map
// GENERIC:         "tc.stmt"(%S) <{kind = "+", init, write_map
// GENERIC:         "tc.stmt"(%P) <{kind = "*", init, write_map
// GENERIC:         "tc.stmt"(%L) <{kind = "min", init, write_map
// GENERIC:         "tc.stmt"(%H) <{kind = "max", write_map
tc.def @kinds(%X : !tc.tensor<[N, R], f64>) -> (%S : !tc.tensor<[N], f64>, %P : !tc.tensor<[N], f64>, %L : !tc.tensor<[N], f64>, %H : !tc.tensor<[N], f64>) {
  tc.stmt (%n in 0 to N) %S[%n] = {
    %0 = arith.constant 0.0 : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %S[%n] += {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %S[%n] +=! {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %P[%n] *=! {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %P[%n] *= {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %L[%n] min=! {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %L[%n] min= {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %H[%n] max=! {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
  tc.stmt (%n in 0 to N, %r in 0 to R) %H[%n] max= {
    %0 = tc.read %X[%n, %r] : f64
    tc.yield %0 : f64
  }
}

// Affine subscripts, expression bounds and an output whose shape is an expression.
// CHECK-LABEL: tc.def @maxpool(%I : !tc.tensor<[B, 3, H, W], f16>) -> (%O : !tc.tensor<[B, 3, (H - 2) floordiv 2 + 1, min(W, 8) - 1], f16>) {
// CHECK-NEXT:    tc.stmt (%b in 0 to B, %c in 0 to 3, %h in 0 to (H - 2) floordiv 2 + 1, %w in 1 to min(W, 8), %r_kh in 0 to 2, %r_kw in 0 to 2) %O[%b, %c, %h, %w - 1] max=! {
// CHECK-NEXT:      %[[V:.*]] = tc.read %I[%b, %c, %h * 2 + %r_kh, (%w + %r_kw) floordiv 2 + %w mod 3 - 1] : f16
// CHECK-NEXT:      tc.yield %[[V]] : f16
// GENERIC-LABEL: "tc.def"() <{sym_name = "maxpool"
// GENERIC:         upper_bounds = [#tc.size<B>, #tc.size<3>, #tc.size<(H - 2) floordiv 2 + 1>, #tc.size<min(W, 8)>, #tc.size<2>, #tc.size<2>]
tc.def @maxpool(%I : !tc.tensor<[B, 3, H, W], f16>) -> (%O : !tc.tensor<[B, 3, (H - 2) floordiv 2 + 1, min(W, 8) - 1], f16>) {
  tc.stmt (%b in 0 to B, %c in 0 to 3, %h in 0 to (H - 2) floordiv 2 + 1, %w in 1 to min(W, 8), %r_kh in 0 to 2, %r_kw in 0 to 2) %O[%b, %c, %h, %w - 1] max=! {
    %0 = tc.read %I[%b, %c, 2 * %h + %r_kh, (%w + %r_kw) floordiv 2 + %w mod 3 - 1] : f16
    tc.yield %0 : f16
  }
}

// Rank 0 tensors, scalar parameters, literal sizes, a temporary, unsigned elements.
// CHECK-LABEL: tc.def @scalars(%alpha : f32, %S : !tc.tensor<[], f32>, %V : !tc.tensor<[4], ui8>) -> (%O : !tc.tensor<[], f32>) temporaries(%T : !tc.tensor<[4], ui8>) {
// CHECK-NEXT:    tc.stmt (%i in 0 to 4) %T[%i] = {
// CHECK-NEXT:      %[[V:.*]] = tc.read %V[%i] : i8
// CHECK-NEXT:      tc.yield %[[V]] : i8
// CHECK-NEXT:    }
// CHECK-NEXT:    tc.stmt () %O[] = {
// CHECK-NEXT:      %[[S:.*]] = tc.read %S[] : f32
// CHECK-NEXT:      %[[M:.*]] = arith.mulf %alpha, %[[S]] : f32
// CHECK-NEXT:      tc.yield %[[M]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:    tc.stmt (%r_i in 0 to 4) %O[] += {
// CHECK-NEXT:      %[[T:.*]] = tc.read %T[%r_i] : i8
// CHECK-NEXT:      %[[F:.*]] = arith.uitofp %[[T]] : i8 to f32
// CHECK-NEXT:      tc.yield %[[F]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:  }
// GENERIC-LABEL: "tc.def"() <{sym_name = "scalars", num_inputs = 3 : i64, num_outputs = 1 : i64}> ({
// GENERIC-NEXT:  ^bb0(%alpha: f32, %S: !tc.tensor<[], f32>, %V: !tc.tensor<[4], ui8>, %O: !tc.tensor<[], f32>, %T: !tc.tensor<[4], ui8>):
tc.def @scalars(%alpha : f32, %S : !tc.tensor<[], f32>, %V : !tc.tensor<[4], ui8>) -> (%O : !tc.tensor<[], f32>) temporaries(%T : !tc.tensor<[4], ui8>) {
  tc.stmt (%i in 0 to 4) %T[%i] = {
    %0 = tc.read %V[%i] : i8
    tc.yield %0 : i8
  }
  tc.stmt () %O[] = {
    %0 = tc.read %S[] : f32
    %1 = arith.mulf %alpha, %0 : f32
    tc.yield %1 : f32
  }
  tc.stmt (%r_i in 0 to 4) %O[] += {
    %0 = tc.read %T[%r_i] : i8
    %1 = arith.uitofp %0 : i8 to f32
    tc.yield %1 : f32
  }
}

// Indirect subscripts: an integer read, cast to index, is an operand of another read.
// CHECK-LABEL: tc.def @lut(%LUT : !tc.tensor<[E, D], f32>, %I : !tc.tensor<[B, L], i32>) -> (%O : !tc.tensor<[B, D], f32>) {
// CHECK-NEXT:    tc.stmt (%b in 0 to B, %d in 0 to D, %r_l in 0 to L) %O[%b, %d] +=! {
// CHECK-NEXT:      %[[I:.*]] = tc.read %I[%b, %r_l] : i32
// CHECK-NEXT:      %[[X:.*]] = arith.index_cast %[[I]] : i32 to index
// CHECK-NEXT:      %[[V:.*]] = tc.read %LUT[%[[X]], %d] : f32
// CHECK-NEXT:      tc.yield %[[V]] : f32
// GENERIC-LABEL: "tc.def"() <{sym_name = "lut"
// GENERIC:         "tc.read"(%LUT, %{{.*}}, %d) <{map = affine_map<(d0, d1) -> (d0, d1)>}>
tc.def @lut(%LUT : !tc.tensor<[E, D], f32>, %I : !tc.tensor<[B, L], i32>) -> (%O : !tc.tensor<[B, D], f32>) {
  tc.stmt (%b in 0 to B, %d in 0 to D, %r_l in 0 to L) %O[%b, %d] +=! {
    %0 = tc.read %I[%b, %r_l] : i32
    %1 = arith.index_cast %0 : i32 to index
    %2 = tc.read %LUT[%1, %d] : f32
    tc.yield %2 : f32
  }
}

// A guarded read in scf.if (TC's lazy `?:`), sizes as values, iterators as values.
// CHECK-LABEL: tc.def @guarded(%X : !tc.tensor<[T], f32>) -> (%Y : !tc.tensor<[T], f32>) {
// CHECK-NEXT:    tc.stmt (%t in 0 to T) %Y[%t] = {
// CHECK-NEXT:      %[[T:.*]] = arith.index_cast %t : index to i32
// CHECK-NEXT:      %[[N:.*]] = tc.size "T" : i32
// CHECK-NEXT:      %[[TI:.*]] = tc.size "T" : index
// CHECK-NEXT:      %[[C3:.*]] = arith.constant 3 : i32
// CHECK-NEXT:      %[[D:.*]] = arith.subi %[[T]], %[[C3]] : i32
// CHECK-NEXT:      %[[Z:.*]] = arith.constant 0 : i32
// CHECK-NEXT:      %[[C:.*]] = arith.cmpi sge, %[[D]], %[[Z]] : i32
// CHECK-NEXT:      %[[R:.*]] = scf.if %[[C]] -> (f32) {
// CHECK-NEXT:        %[[V:.*]] = tc.read %X[%t - 3] : f32
// CHECK-NEXT:        %[[W:.*]] = tc.read %X[%[[TI]] - %t - 1] : f32
// CHECK-NEXT:        %[[S:.*]] = arith.addf %[[V]], %[[W]] : f32
// CHECK-NEXT:        scf.yield %[[S]] : f32
// CHECK-NEXT:      } else {
// CHECK-NEXT:        %[[F:.*]] = arith.sitofp %[[N]] : i32 to f32
// CHECK-NEXT:        scf.yield %[[F]] : f32
// CHECK-NEXT:      }
// CHECK-NEXT:      tc.yield %[[R]] : f32
tc.def @guarded(%X : !tc.tensor<[T], f32>) -> (%Y : !tc.tensor<[T], f32>) {
  tc.stmt (%t in 0 to T) %Y[%t] = {
    %0 = arith.index_cast %t : index to i32
    %n = tc.size "T" : i32
    %ni = tc.size "T" : index
    %c3 = arith.constant 3 : i32
    %1 = arith.subi %0, %c3 : i32
    %c0 = arith.constant 0 : i32
    %2 = arith.cmpi sge, %1, %c0 : i32
    %3 = scf.if %2 -> (f32) {
      %4 = tc.read %X[%t - 3] : f32
      %5 = tc.read %X[%ni - %t - 1] : f32
      %6 = arith.addf %4, %5 : f32
      scf.yield %6 : f32
    } else {
      %7 = arith.sitofp %n : i32 to f32
      scf.yield %7 : f32
    }
    tc.yield %3 : f32
  }
}

// Discardable attributes, one reused index operand, negative and parenthesized terms,
// an affine write subscript, an output with a literal extent.
// CHECK-LABEL: tc.def @misc(%A : !tc.tensor<[N, N], bf16>) -> (%O : !tc.tensor<[2 * N, 1], bf16>) attributes {origin = "test"} {
// CHECK-NEXT:    tc.stmt (%i in 0 to N) %O[%i * 2 + 1, 0] = attributes {note = 1 : i64} {
// CHECK-NEXT:      %[[V:.*]] = tc.read %A[%i, -%i + (%i + 1) mod 2 - 1] {tag} : bf16
tc.def @misc(%A : !tc.tensor<[N, N], bf16>) -> (%O : !tc.tensor<[2 * N, 1], bf16>) attributes {origin = "test"} {
  tc.stmt (%i in 0 to N) %O[2 * %i + 1, 0] = attributes {note = 1 : i64} {
    %0 = tc.read %A[%i, -%i + (%i + 1) mod 2 - 1] {tag} : bf16
    tc.yield %0 : bf16
  }
}

// Builtin math functions without a math dialect op.
// CHECK-LABEL: tc.def @builtins(%A : !tc.tensor<[N], f64>) -> (%B : !tc.tensor<[N], f64>) {
// CHECK-NEXT:    tc.stmt (%i in 0 to N) %B[%i] = {
// CHECK-NEXT:      %[[A:.*]] = tc.read %A[%i] : f64
// CHECK-NEXT:      %[[E:.*]] = tc.builtin "erfinv"(%[[A]]) : (f64) -> f64
// CHECK-NEXT:      %[[F:.*]] = tc.builtin "fma"(%[[A]], %[[E]], %[[A]]) : (f64, f64, f64) -> f64
// CHECK-NEXT:      tc.yield %[[F]] : f64
// GENERIC-LABEL: "tc.def"() <{sym_name = "builtins"
// GENERIC:         "tc.builtin"(%{{.*}}) <{fn = "erfinv"}> : (f64) -> f64
tc.def @builtins(%A : !tc.tensor<[N], f64>) -> (%B : !tc.tensor<[N], f64>) {
  tc.stmt (%i in 0 to N) %B[%i] = {
    %0 = tc.read %A[%i] : f64
    %1 = tc.builtin "erfinv"(%0) : (f64) -> f64
    %2 = tc.builtin "fma"(%0, %1, %0) : (f64, f64, f64) -> f64
    tc.yield %2 : f64
  }
}

// A def without outputs and an empty body.
// CHECK-LABEL: tc.def @empty(%A : !tc.tensor<[N], i1>) -> () {
// CHECK-NEXT:  }
tc.def @empty(%A : !tc.tensor<[N], i1>) -> () {
}

// A scatter-add: `at(0)` in the write subscripts is the first index tc.yield computes.
// CHECK-LABEL: tc.def @embed_grad(%W : !tc.tensor<[E, D], f32>, %I : !tc.tensor<[B, L], i32>, %G : !tc.tensor<[B, D], f32>) -> (%T : !tc.tensor<[E, D], f32>) {
// CHECK:         tc.stmt (%d in 0 to D, %b in 0 to B, %l in 0 to L) %T[at(0), %d] += {
// CHECK-NEXT:      %[[G:.*]] = tc.read %G[%b, %d] : f32
// CHECK-NEXT:      %[[I:.*]] = tc.read %I[%b, %l] : i32
// CHECK-NEXT:      %[[E:.*]] = arith.index_cast %[[I]] : i32 to index
// CHECK-NEXT:      tc.yield %[[G]] at [%[[E]]] : f32
// CHECK-NEXT:    }
// GENERIC-LABEL: "tc.def"() <{sym_name = "embed_grad"
// GENERIC:         "tc.stmt"(%T) <{kind = "+", write_map = affine_map<(d0, d1, d2, d3) -> (d3, d0)>
// GENERIC:           "tc.yield"(%{{.*}}, %{{.*}}) : (f32, index) -> ()
tc.def @embed_grad(%W : !tc.tensor<[E, D], f32>, %I : !tc.tensor<[B, L], i32>, %G : !tc.tensor<[B, D], f32>) -> (%T : !tc.tensor<[E, D], f32>) {
  tc.stmt (%e in 0 to E, %d in 0 to D) %T[%e, %d] = {
    %0 = arith.constant 0.000000e+00 : f32
    tc.yield %0 : f32
  }
  tc.stmt (%d in 0 to D, %b in 0 to B, %l in 0 to L) %T[at(0), %d] += {
    %0 = tc.read %G[%b, %d] : f32
    %1 = tc.read %I[%b, %l] : i32
    %2 = arith.index_cast %1 : i32 to index
    tc.yield %0 at [%2] : f32
  }
}
