// RUN: tc-opt %s --verify-diagnostics --split-input-file | filecheck %s

// Verifier errors of the tc dialect, one per split. Syntax errors are tested in
// tests/dialects/test_tc_dialect.py (a parse error ends the whole run).

// CHECK: input %A of tc.def @f has dimension `N + 1`; input dimensions must be size names or non-negative integers
tc.def @f(%A : !tc.tensor<[N + 1], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: input %A of tc.def @f has dimension `(-1)`; input dimensions must be size names or non-negative integers
tc.def @f(%A : !tc.tensor<[-1], f32>) -> () {
}

// -----

// CHECK: input %x of tc.def @f must be a !tc.tensor or a scalar of a TC element type, got index
tc.def @f(%x : index) -> () {
}

// -----

// CHECK: output %C of tc.def @f must be a !tc.tensor, got f32
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : f32) {
}

// -----

// CHECK: output %C of tc.def @f uses size `Q`, which no input of tc.def @f declares (sizes: M, N)
tc.def @f(%A : !tc.tensor<[M, N], f32>) -> (%C : !tc.tensor<[M, Q + 1], f32>) {
}

// -----

// CHECK: temporary %T of tc.def @f uses size `K`, which no input of tc.def @f declares (sizes: none)
tc.def @f(%A : !tc.tensor<[4], f32>) -> () temporaries(%T : !tc.tensor<[K], f32>) {
}

// -----

// CHECK: tc.def @f declares 2 inputs and 1 outputs, but its body has 2 block arguments
"tc.def"() <{sym_name = "f", num_inputs = 2 : i64, num_outputs = 1 : i64}> ({
^bb0(%A: !tc.tensor<[N], f32>, %C: !tc.tensor<[N], f32>):
}) : () -> ()

// -----

// CHECK: tc.def @f may only contain tc.stmt ops, found arith.constant
tc.def @f(%A : !tc.tensor<[N], f32>) -> () {
  %0 = arith.constant 0 : i32
}

// -----

// CHECK: output %C of tc.def @f is never written by a tc.stmt
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
}

// -----

// CHECK: temporary %T of tc.def @f is never written by a tc.stmt
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) temporaries(%T : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %A: %A is an input of tc.def @f; inputs are read-only
tc.def @f(%A : !tc.tensor<[N], f32>) -> () {
  tc.stmt (%n in 0 to N) %A[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %C has kind `/`; expected one of =, +, *, min, max
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "/", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n) <{map = affine_map<(d0) -> (d0)>}> : (!tc.tensor<[N], f32>, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: `=!` is invalid; `!` (init) needs a reduction kind (+, *, min, max)
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] =! {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %C: `=` cannot have reduction iterators, but %r_k is not used in the write subscripts
tc.def @f(%A : !tc.tensor<[M, K], f32>) -> (%C : !tc.tensor<[M], f32>) {
  tc.stmt (%m in 0 to M, %r_k in 0 to K) %C[%m] = {
    %0 = tc.read %A[%m, %r_k] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %C has 1 iterators but 2 upper bounds
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>, #tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n) <{map = affine_map<(d0) -> (d0)>}> : (!tc.tensor<[N], f32>, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: iterator %n must have type index, got i32
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: i32):
    %0 = arith.constant 1.0 : f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: write_map has 2 dims but the statement has 1 iterators
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0, d1) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n) <{map = affine_map<(d0) -> (d0)>}> : (!tc.tensor<[N], f32>, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: write_map must not have symbols, got (d0)[s0] -> (d0)
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0)[s0] -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n) <{map = affine_map<(d0) -> (d0)>}> : (!tc.tensor<[N], f32>, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: write_map has 1 results but the target has rank 2
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N, N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %C: tc.yield has type f32, but the target's element type needs i8
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], ui8>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.stmt writing %C: body must end with tc.yield
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
  }
}

// -----

// CHECK: tc.stmt writing %C: the range of iterator %n uses size `P`, which no input of tc.def @f declares (sizes: N)
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to min(N, P)) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: 'tc.stmt' expects parent op 'tc.def'
func.func @f(%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = arith.constant 1.0 : f32
    tc.yield %0 : f32
  }
  func.return
}

// -----

// CHECK: 'tc.read' expects ancestor op 'tc.stmt'
func.func @f(%A : !tc.tensor<[N], f32>, %n : index) -> f32 {
  %0 = tc.read %A[%n] : f32
  func.return %0 : f32
}

// -----

// CHECK: tc.read of %A: 2 subscripts for a tensor of rank 1
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n, 0] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.read of %A: result type f32 should be i32
tc.def @f(%A : !tc.tensor<[N], i32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.read of %A: result type ui16 should be i16
tc.def @f(%A : !tc.tensor<[N], ui16>) -> (%C : !tc.tensor<[N], ui16>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : ui16
    %1 = arith.constant 0 : i16
    tc.yield %1 : i16
  }
}

// -----

// CHECK: tc.read of %A: index operands must be distinct and listed in order of first use in the map (got (d0, d1) -> (d1, d0) for %m, %n)
tc.def @f(%A : !tc.tensor<[M, N], f32>) -> (%C : !tc.tensor<[M, N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0, d1) -> (d0, d1)>, lower_bounds = [#tc.size<0>, #tc.size<0>], upper_bounds = [#tc.size<M>, #tc.size<N>]}> ({
  ^bb0(%m: index, %n: index):
    %0 = "tc.read"(%A, %m, %n) <{map = affine_map<(d0, d1) -> (d1, d0)>}> : (!tc.tensor<[M, N], f32>, index, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[M, N], f32>) -> ()
}

// -----

// CHECK: tc.read of %A: index operands must be distinct and listed in order of first use in the map (got (d0, d1) -> (d0, d1) for %n, %n)
tc.def @f(%A : !tc.tensor<[N, N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n, %n) <{map = affine_map<(d0, d1) -> (d0, d1)>}> : (!tc.tensor<[N, N], f32>, index, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.stmt writing %C: write_map divides by 0; divisors must be positive integers
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n floordiv 0] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.read of %A: map divides by -2; divisors must be positive integers
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n mod -2] : f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.read of %A: map has 1 dims for 2 index operands
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n, %n) <{map = affine_map<(d0) -> (d0)>}> : (!tc.tensor<[N], f32>, index, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.read of %A: map must not have symbols, got (d0)[s0] -> ((d0 + s0))
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  "tc.stmt"(%C) <{kind = "=", write_map = affine_map<(d0) -> (d0)>, lower_bounds = [#tc.size<0>], upper_bounds = [#tc.size<N>]}> ({
  ^bb0(%n: index):
    %0 = "tc.read"(%A, %n) <{map = affine_map<(d0)[s0] -> (d0 + s0)>}> : (!tc.tensor<[N], f32>, index) -> f32
    "tc.yield"(%0) : (f32) -> ()
  }) : (!tc.tensor<[N], f32>) -> ()
}

// -----

// CHECK: tc.read of %X: the tensor must be an argument of the enclosing tc.def @f
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    %X = builtin.unrealized_conversion_cast %0 : f32 to !tc.tensor<[N], f32>
    %1 = tc.read %X[%n] : f32
    tc.yield %1 : f32
  }
}

// -----

// CHECK: tc.size `Q` is not a size of tc.def @f (sizes: N)
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %q = tc.size "Q" : i32
    %0 = arith.sitofp %q : i32 to f32
    tc.yield %0 : f32
  }
}

// -----

// CHECK: tc.builtin: `sigmoid` is not a TC builtin function
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    %1 = tc.builtin "sigmoid"(%0) : (f32) -> f32
    tc.yield %1 : f32
  }
}

// -----

// CHECK: tc.builtin atan2 takes 2 arguments, got 1
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    %1 = tc.builtin "atan2"(%0) : (f32) -> f32
    tc.yield %1 : f32
  }
}

// -----

// CHECK: tc.builtin erf: arguments and result must have one float type, got (f32) -> f64
tc.def @f(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f64>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    %1 = tc.builtin "erf"(%0) : (f32) -> f64
    tc.yield %1 : f64
  }
}

// -----

// CHECK: 'tc.yield' expects parent op 'tc.stmt'
func.func @f() {
  %0 = arith.constant 0.0 : f32
  tc.yield %0 : f32
}

// -----

// CHECK: tc.stmt writing %T: a write at yielded indices is a scatter-add: its kind must be `+=`, not `+=!`
tc.def @f(%W : !tc.tensor<[E], f32>, %I : !tc.tensor<[N], i32>) -> (%T : !tc.tensor<[E], f32>) {
  tc.stmt (%n in 0 to N) %T[at(0)] +=! {
    %0 = arith.constant 1.000000e+00 : f32
    %1 = tc.read %I[%n] : i32
    %2 = arith.index_cast %1 : i32 to index
    tc.yield %0 at [%2] : f32
  }
}

// -----

// CHECK: tc.stmt writing %T: a write at yielded indices is a scatter-add: its kind must be `+=`, not `max=`
tc.def @f(%W : !tc.tensor<[E], f32>, %I : !tc.tensor<[N], i32>) -> (%T : !tc.tensor<[E], f32>) {
  tc.stmt (%n in 0 to N) %T[at(0)] max= {
    %0 = arith.constant 1.000000e+00 : f32
    %1 = tc.read %I[%n] : i32
    %2 = arith.index_cast %1 : i32 to index
    tc.yield %0 at [%2] : f32
  }
}

// -----

// CHECK: tc.stmt writing %T: write_map has 2 dims but the statement has 1 iterators and yields 0 indices
tc.def @f(%W : !tc.tensor<[E], f32>, %I : !tc.tensor<[N], i32>) -> (%T : !tc.tensor<[E], f32>) {
  tc.stmt (%n in 0 to N) %T[at(0)] += {
    %0 = arith.constant 1.000000e+00 : f32
    tc.yield %0 : f32
  }
}
