// RUN: tc-opt %s --split-input-file --verify-diagnostics --emit=affine --sizes N=8 | filecheck %s
// RUN: tc-opt %s --split-input-file --verify-diagnostics --emit=loops --mapping naive --sizes N=8 | filecheck %s
// RUN: tc-opt %s --split-input-file --verify-diagnostics --emit=gpu --sizes N=8 | filecheck %s --check-prefix=GPU
// RUN: not tc-opt %s --emit=loops --sizes N=8 2>&1 | filecheck %s --check-prefix=EXIT

// tc IR that lies about its accesses, caught when the sizes are specialized (by
// convert-tc-to-affine, convert-tc-to-loops and convert-tc-to-gpu alike) before any code
// is generated; then IR that only looks wrong, which compiles. Dividing by a constant 0
// and constants beyond int64 are parse errors (tests/dialects/test_tc_dialect.py).

// EXIT: error: convert-tc-to-affine: tc.def @negative_lower_bound, statement 0 (tc.stmt writing %C) writes %C at index -1 of dimension 0 (subscript `%n`), outside [0, 8) with N=8
// EXIT-NOT: func.func
// expected-error @unknown {{tc.def @negative_lower_bound, statement 0 (tc.stmt writing %C) writes %C at index -1 of dimension 0 (subscript `%n`), outside [0, 8) with N=8}}
tc.def @negative_lower_bound(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in -1 to N) %C[%n] = {
    %0 = tc.read %A[%n + 1] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @read_outside, statement 0 (tc.stmt writing %C) reads %A at index 8 of dimension 0 (subscript `%n + 1`), outside [0, 8) with N=8}}
tc.def @read_outside(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n + 1] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @reduction_read_outside, statement 0 (tc.stmt writing %C) reads %A at index -2 of dimension 0 (subscript `%n - %r`), outside [0, 8) with N=8}}
tc.def @reduction_read_outside(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N, %r in 0 to 3) %C[%n] +=! {
    %0 = tc.read %A[%n - %r] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @constant_subscript, statement 0 (tc.stmt writing %C) reads %A at index 7 of dimension 1 (subscript `7`), outside [0, 4) with N=8}}
tc.def @constant_subscript(%A : !tc.tensor<[N, 4], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n, 7] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @size_subscript, statement 0 (tc.stmt writing %C) reads %A at index 8 of dimension 0 (subscript `%N`), outside [0, 8) with N=8}}
tc.def @size_subscript(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %N = tc.size "N" : index
    %0 = tc.read %A[%N] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @divided_write, statement 0 (tc.stmt writing %C) writes %C at index 4 of dimension 0 (subscript `(%n + 1) floordiv 2`), outside [0, 4) with N=8}}
tc.def @divided_write(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N floordiv 2], f32>) {
  tc.stmt (%n in 0 to N) %C[(%n + 1) floordiv 2] max=! {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// The box of `!` is set even when the reduction range is empty.
// expected-error @unknown {{tc.def @init_outside, statement 0 (tc.stmt writing %C) writes %C at index 8 of dimension 0 (subscript `%n`), outside [0, 8) with N=8}}
tc.def @init_outside(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N + 1, %r in 0 to 0) %C[%n] +=! {
    %0 = tc.read %A[%r] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @divides_by_zero, statement 0 (tc.stmt writing %C): the upper bound of %n is `N floordiv (N - 8)`, which divides by zero with N=8}}
tc.def @divides_by_zero(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N floordiv (N - 8)) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @extent_beyond_int64: dimension 0 of %C is `N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N`, which is 73786976294838206464 with N=8: beyond int64}}
tc.def @extent_beyond_int64(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N * N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @bound_beyond_int64, statement 0 (tc.stmt writing %C): the upper bound of %r is `N + 9223372036854775800`, which is 9223372036854775808 with N=8: beyond int64}}
tc.def @bound_beyond_int64(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N, %r in 0 to N + 9223372036854775800) %C[%n] +=! {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// expected-error @unknown {{tc.def @bytes_beyond_int64: %C of shape [8, 1152921504606846976] with N=8 would take more than 9223372036854775807 bytes}}
tc.def @bytes_beyond_int64(%A : !tc.tensor<[N], f32>) -> (%C : !tc.tensor<[N, 1152921504606846976], f32>) {
  tc.stmt (%n in 0 to N) %C[%n, 0] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
}

// -----

// Only looks wrong: a read guarded by a condition, a subscript computed from a value, a
// statement that never runs, a mod whose bound [0, 7] is not reached (its values are 0,
// 2, 4, 6: %E has 7 elements), a negative bound of an iterator the subscripts shift back.
// CHECK-LABEL: func.func @fine
// GPU-LABEL: func.func @fine
tc.def @fine(%A : !tc.tensor<[N], f32>, %I : !tc.tensor<[N], i32>) -> (%C : !tc.tensor<[N], f32>, %D : !tc.tensor<[N], f32>, %E : !tc.tensor<[N - 1], f32>, %F : !tc.tensor<[N], f32>) {
  tc.stmt (%n in 0 to N) %C[%n] = {
    %t = arith.index_cast %n : index to i32
    %c0 = arith.constant 0 : i32
    %inside = arith.cmpi sgt, %t, %c0 : i32
    %0 = scf.if %inside -> (f32) {
      %1 = tc.read %A[%n - 1] : f32
      scf.yield %1 : f32
    } else {
      %2 = arith.constant 0.0 : f32
      scf.yield %2 : f32
    }
    tc.yield %0 : f32
  }
  tc.stmt (%n in 0 to N) %D[%n] = {
    %0 = tc.read %I[%n] : i32
    %1 = arith.index_cast %0 : i32 to index
    %2 = tc.read %A[%1 + 100] : f32
    tc.yield %2 : f32
  }
  tc.stmt (%n in 0 to N, %r in N to N) %D[%n] += {
    %0 = tc.read %A[%n + %r + 100] : f32
    tc.yield %0 : f32
  }
  tc.stmt (%n in 0 to N) %E[(%n * 2) mod 8] = {
    %0 = tc.read %A[%n] : f32
    tc.yield %0 : f32
  }
  tc.stmt (%n in -1 to N - 1) %F[%n + 1] = {
    %0 = tc.read %A[%n + 1] : f32
    tc.yield %0 : f32
  }
}
