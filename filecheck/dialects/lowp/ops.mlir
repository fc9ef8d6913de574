// RUN: tc-opt %s | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: tc-opt %s -p cse,dce | filecheck %s --check-prefix=PURE

// The custom syntax of the lowp ops, printed back after a round trip through the custom
// and the generic form: attributes at their defaults (nearest_even, format) are not
// printed, every other value is.

// CHECK-LABEL: func.func @casts(
func.func @casts(%x : f32, %h : f16, %b : bf16, %d : f64, %i8 : i8, %i16 : i16, %i32 : i32, %i64 : i64,
                 %e4 : !lowp.float<e4m3, fn>, %q : !lowp.fixed<s4.4, saturate>, %bits : i32) {
  // CHECK-NEXT: %{{.*}} = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x rounding toward_zero : f32 to !lowp.float<e5m2, ieee>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x rounding stochastic random %bits : f32 to !lowp.float<e5m2, fnuz, bias = 16>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x rounding stochastic random %bits overflow saturate : f32 to !lowp.float<e2m1, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x overflow saturate : f32 to !lowp.float<e8m0, unsigned>
  // CHECK-NEXT: %{{.*}} = lowp.cast %x rounding toward_zero overflow saturate : f32 to !lowp.fixed<s4.4, wrap>
  %0 = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
  %1 = lowp.cast %x rounding nearest_even overflow format : f32 to !lowp.float<e4m3, fn>
  %2 = lowp.cast %x rounding toward_zero : f32 to !lowp.float<e5m2, ieee>
  %3 = lowp.cast %x rounding stochastic random %bits : f32 to !lowp.float<e5m2, fnuz, bias = 16>
  %4 = lowp.cast %x rounding stochastic random %bits overflow saturate : f32 to !lowp.float<e2m1, fn>
  %5 = lowp.cast %x overflow saturate : f32 to !lowp.float<e8m0, unsigned>
  %6 = lowp.cast %x rounding toward_zero overflow saturate : f32 to !lowp.fixed<s4.4, wrap>

  // Every standard float type, both ways.
  // CHECK-NEXT: %{{.*}} = lowp.cast %h : f16 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %b : bf16 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %d : f64 to !lowp.fixed<s4.4, saturate>
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 : !lowp.float<e4m3, fn> to f16
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 : !lowp.float<e4m3, fn> to bf16
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 : !lowp.float<e4m3, fn> to f32
  // CHECK-NEXT: %{{.*}} = lowp.cast %q : !lowp.fixed<s4.4, saturate> to f64
  %7 = lowp.cast %h : f16 to !lowp.float<e4m3, fn>
  %8 = lowp.cast %b : bf16 to !lowp.float<e4m3, fn>
  %9 = lowp.cast %d : f64 to !lowp.fixed<s4.4, saturate>
  %10 = lowp.cast %e4 : !lowp.float<e4m3, fn> to f16
  %11 = lowp.cast %e4 : !lowp.float<e4m3, fn> to bf16
  %12 = lowp.cast %e4 : !lowp.float<e4m3, fn> to f32
  %13 = lowp.cast %q : !lowp.fixed<s4.4, saturate> to f64

  // Integers, signed (the default) or unsigned, both ways.
  // CHECK-NEXT: %{{.*}} = lowp.cast %i8 : i8 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %i8 : unsigned i8 to !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cast %i16 : unsigned i16 to !lowp.fixed<u8.0, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cast %i64 overflow saturate : i64 to !lowp.fixed<s16.16, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 rounding toward_zero : !lowp.float<e4m3, fn> to i32
  // CHECK-NEXT: %{{.*}} = lowp.cast %q overflow saturate : !lowp.fixed<s4.4, saturate> to unsigned i8
  // CHECK-NEXT: %{{.*}} = lowp.cast %i32 : unsigned i32 to unsigned i64
  // CHECK-NEXT: %{{.*}} = lowp.cast %i64 rounding stochastic random %bits : i64 to f32
  // CHECK-NEXT: %{{.*}} = lowp.cast %x rounding stochastic random %bits : f32 to bf16
  %14 = lowp.cast %i8 : i8 to !lowp.float<e4m3, fn>
  %15 = lowp.cast %i8 : unsigned i8 to !lowp.float<e4m3, fn>
  %16 = lowp.cast %i16 : unsigned i16 to !lowp.fixed<u8.0, wrap>
  %17 = lowp.cast %i64 overflow saturate : i64 to !lowp.fixed<s16.16, wrap>
  %18 = lowp.cast %e4 rounding toward_zero : !lowp.float<e4m3, fn> to i32
  %19 = lowp.cast %q overflow saturate : !lowp.fixed<s4.4, saturate> to unsigned i8
  %20 = lowp.cast %i32 : unsigned i32 to unsigned i64
  %21 = lowp.cast %i64 rounding stochastic random %bits : i64 to f32
  %22 = lowp.cast %x rounding stochastic random %bits : f32 to bf16

  // Between lowp types; discardable attributes are kept.
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 : !lowp.float<e4m3, fn> to !lowp.float<e5m2, ieee>
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 overflow saturate : !lowp.float<e4m3, fn> to !lowp.fixed<s4.4, saturate>
  // CHECK-NEXT: %{{.*}} = lowp.cast %q {tag = "q"} : !lowp.fixed<s4.4, saturate> to !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cast %e4 : !lowp.float<e4m3, fn> to !lowp.float<e4m3, fnuz, bias = 8>
  %23 = lowp.cast %e4 : !lowp.float<e4m3, fn> to !lowp.float<e5m2, ieee>
  %24 = lowp.cast %e4 overflow saturate : !lowp.float<e4m3, fn> to !lowp.fixed<s4.4, saturate>
  %25 = lowp.cast %q {tag = "q"} : !lowp.fixed<s4.4, saturate> to !lowp.fixed<s4.4, wrap>
  %26 = lowp.cast %e4 : !lowp.float<e4m3, fn> to !lowp.float<e4m3, fnuz, bias = 8>
  // CHECK-NEXT: func.return
  func.return
}

// GENERIC-LABEL: "func.func"() <{sym_name = "casts"
// GENERIC:         %{{.*}} = "lowp.cast"(%x) <{rounding = #lowp<rounding nearest_even>, overflow = #lowp<overflow format>}> : (f32) -> !lowp.float<e4m3, fn>
// GENERIC:         %{{.*}} = "lowp.cast"(%x, %bits) <{rounding = #lowp<rounding stochastic>, overflow = #lowp<overflow saturate>}> : (f32, i32) -> !lowp.float<e2m1, fn>
// GENERIC:         %{{.*}} = "lowp.cast"(%i16) <{rounding = #lowp<rounding nearest_even>, overflow = #lowp<overflow format>, unsigned_input}> : (i16) -> !lowp.fixed<u8.0, wrap>
// GENERIC:         %{{.*}} = "lowp.cast"(%i32) <{rounding = #lowp<rounding nearest_even>, overflow = #lowp<overflow format>, unsigned_input, unsigned_result}> : (i32) -> i64

// CHECK-LABEL: func.func @float_arithmetic(
func.func @float_arithmetic(%a : !lowp.float<e4m3, fn>, %b : !lowp.float<e4m3, fn>, %c : !lowp.float<e4m3, fn>,
                            %bits : i32) {
  // CHECK-NEXT: %{{.*}} = lowp.add %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.sub %a, %b rounding toward_zero : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.mul %a, %b rounding stochastic random %bits : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.div %a, %b overflow saturate : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.fma %a, %b, %c : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.fma %a, %b, %c rounding stochastic random %bits overflow saturate : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.neg %a : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.abs %a : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.min %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.max %a, %b {tag} : !lowp.float<e4m3, fn>
  %0 = lowp.add %a, %b : !lowp.float<e4m3, fn>
  %1 = lowp.sub %a, %b rounding toward_zero : !lowp.float<e4m3, fn>
  %2 = lowp.mul %a, %b rounding stochastic random %bits : !lowp.float<e4m3, fn>
  %3 = lowp.div %a, %b overflow saturate : !lowp.float<e4m3, fn>
  %4 = lowp.fma %a, %b, %c rounding nearest_even : !lowp.float<e4m3, fn>
  %5 = lowp.fma %a, %b, %c rounding stochastic random %bits overflow saturate : !lowp.float<e4m3, fn>
  %6 = lowp.neg %a : !lowp.float<e4m3, fn>
  %7 = lowp.abs %a overflow format : !lowp.float<e4m3, fn>
  %8 = lowp.min %a, %b : !lowp.float<e4m3, fn>
  %9 = lowp.max %a, %b {tag} : !lowp.float<e4m3, fn>
  // Every float predicate.
  // CHECK-NEXT: %{{.*}} = lowp.cmp oeq, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp one, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp olt, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ole, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ogt, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp oge, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ueq, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp une, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ult, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ule, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ugt, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp uge, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ord, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: %{{.*}} = lowp.cmp uno, %a, %b : !lowp.float<e4m3, fn>
  %10 = lowp.cmp oeq, %a, %b : !lowp.float<e4m3, fn>
  %11 = lowp.cmp one, %a, %b : !lowp.float<e4m3, fn>
  %12 = lowp.cmp olt, %a, %b : !lowp.float<e4m3, fn>
  %13 = lowp.cmp ole, %a, %b : !lowp.float<e4m3, fn>
  %14 = lowp.cmp ogt, %a, %b : !lowp.float<e4m3, fn>
  %15 = lowp.cmp oge, %a, %b : !lowp.float<e4m3, fn>
  %16 = lowp.cmp ueq, %a, %b : !lowp.float<e4m3, fn>
  %17 = lowp.cmp une, %a, %b : !lowp.float<e4m3, fn>
  %18 = lowp.cmp ult, %a, %b : !lowp.float<e4m3, fn>
  %19 = lowp.cmp ule, %a, %b : !lowp.float<e4m3, fn>
  %20 = lowp.cmp ugt, %a, %b : !lowp.float<e4m3, fn>
  %21 = lowp.cmp uge, %a, %b : !lowp.float<e4m3, fn>
  %22 = lowp.cmp ord, %a, %b : !lowp.float<e4m3, fn>
  %23 = lowp.cmp uno, %a, %b : !lowp.float<e4m3, fn>
  // CHECK-NEXT: func.return
  func.return
}

// GENERIC-LABEL: "func.func"() <{sym_name = "float_arithmetic"
// GENERIC:         %{{.*}} = "lowp.mul"(%a, %b, %bits) <{rounding = #lowp<rounding stochastic>, overflow = #lowp<overflow format>}> : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, i32) -> !lowp.float<e4m3, fn>
// GENERIC:         %{{.*}} = "lowp.fma"(%a, %b, %c, %bits) <{rounding = #lowp<rounding stochastic>, overflow = #lowp<overflow saturate>}> : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, i32) -> !lowp.float<e4m3, fn>
// GENERIC:         %{{.*}} = "lowp.neg"(%a) <{overflow = #lowp<overflow format>}> : (!lowp.float<e4m3, fn>) -> !lowp.float<e4m3, fn>
// GENERIC:         %{{.*}} = "lowp.max"(%a, %b) {tag} : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>) -> !lowp.float<e4m3, fn>
// GENERIC:         %{{.*}} = "lowp.cmp"(%a, %b) <{predicate = #lowp<predicate oeq>}> : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>) -> i1

// Fixed point takes the same arithmetic; lowp.cmp takes eq ne lt le gt ge.
// CHECK-LABEL: func.func @fixed_arithmetic(
func.func @fixed_arithmetic(%a : !lowp.fixed<s4.4, wrap>, %b : !lowp.fixed<s4.4, wrap>, %u : !lowp.fixed<u0.8, saturate>,
                            %bits : i32) {
  // CHECK-NEXT: %{{.*}} = lowp.add %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.sub %a, %b overflow saturate : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.mul %a, %b rounding toward_zero : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.div %a, %b rounding stochastic random %bits : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.fma %a, %b, %a : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.neg %a overflow saturate : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.neg %u : !lowp.fixed<u0.8, saturate>
  // CHECK-NEXT: %{{.*}} = lowp.abs %a : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.min %u, %u : !lowp.fixed<u0.8, saturate>
  // CHECK-NEXT: %{{.*}} = lowp.max %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cmp eq, %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ne, %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cmp lt, %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cmp le, %u, %u : !lowp.fixed<u0.8, saturate>
  // CHECK-NEXT: %{{.*}} = lowp.cmp gt, %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: %{{.*}} = lowp.cmp ge, %a, %b : !lowp.fixed<s4.4, wrap>
  %0 = lowp.add %a, %b : !lowp.fixed<s4.4, wrap>
  %1 = lowp.sub %a, %b overflow saturate : !lowp.fixed<s4.4, wrap>
  %2 = lowp.mul %a, %b rounding toward_zero : !lowp.fixed<s4.4, wrap>
  %3 = lowp.div %a, %b rounding stochastic random %bits : !lowp.fixed<s4.4, wrap>
  %4 = lowp.fma %a, %b, %a : !lowp.fixed<s4.4, wrap>
  %5 = lowp.neg %a overflow saturate : !lowp.fixed<s4.4, wrap>
  %6 = lowp.neg %u : !lowp.fixed<u0.8, saturate>
  %7 = lowp.abs %a : !lowp.fixed<s4.4, wrap>
  %8 = lowp.min %u, %u : !lowp.fixed<u0.8, saturate>
  %9 = lowp.max %a, %b : !lowp.fixed<s4.4, wrap>
  %10 = lowp.cmp eq, %a, %b : !lowp.fixed<s4.4, wrap>
  %11 = lowp.cmp ne, %a, %b : !lowp.fixed<s4.4, wrap>
  %12 = lowp.cmp lt, %a, %b : !lowp.fixed<s4.4, wrap>
  %13 = lowp.cmp le, %u, %u : !lowp.fixed<u0.8, saturate>
  %14 = lowp.cmp gt, %a, %b : !lowp.fixed<s4.4, wrap>
  %15 = lowp.cmp ge, %a, %b : !lowp.fixed<s4.4, wrap>
  // CHECK-NEXT: func.return
  func.return
}

// Unsigned floats: abs is allowed (the identity), as is the rest but neg.
// CHECK-LABEL: func.func @unsigned_float(
// CHECK-NEXT:    %{{.*}} = lowp.abs %s : !lowp.float<e8m0, unsigned>
// CHECK-NEXT:    %{{.*}} = lowp.mul %s, %s : !lowp.float<e8m0, unsigned>
// CHECK-NEXT:    %{{.*}} = lowp.cmp uno, %s, %s : !lowp.float<e8m0, unsigned>
func.func @unsigned_float(%s : !lowp.float<e8m0, unsigned>) {
  %0 = lowp.abs %s : !lowp.float<e8m0, unsigned>
  %1 = lowp.mul %s, %s : !lowp.float<e8m0, unsigned>
  %2 = lowp.cmp uno, %s, %s : !lowp.float<e8m0, unsigned>
  func.return
}

// The ops are Pure: CSE merges equal ones (not those that differ in an attribute or in
// their random bits), DCE removes the unused ones.
// PURE-LABEL: func.func @pure(
// PURE-NEXT:    %[[C:.*]] = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[Z:.*]] = lowp.cast %x rounding toward_zero : f32 to !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[S1:.*]] = lowp.cast %x rounding stochastic random %r1 : f32 to !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[S2:.*]] = lowp.cast %x rounding stochastic random %r2 : f32 to !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[A:.*]] = lowp.add %[[C]], %[[Z]] : !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[B:.*]] = lowp.add %[[S1]], %[[S2]] : !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[M:.*]] = lowp.mul %[[A]], %[[A]] : !lowp.float<e4m3, fn>
// PURE-NEXT:    %[[P:.*]] = lowp.mul %[[M]], %[[B]] : !lowp.float<e4m3, fn>
// PURE-NEXT:    func.return %[[P]] : !lowp.float<e4m3, fn>
func.func @pure(%x : f32, %r1 : i32, %r2 : i32) -> !lowp.float<e4m3, fn> {
  %0 = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
  %1 = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
  %2 = lowp.cast %x rounding toward_zero : f32 to !lowp.float<e4m3, fn>
  %3 = lowp.cast %x rounding stochastic random %r1 : f32 to !lowp.float<e4m3, fn>
  %4 = lowp.cast %x rounding stochastic random %r2 : f32 to !lowp.float<e4m3, fn>
  %5 = lowp.add %0, %2 : !lowp.float<e4m3, fn>
  %6 = lowp.add %1, %2 : !lowp.float<e4m3, fn>
  %7 = lowp.add %3, %4 : !lowp.float<e4m3, fn>
  %8 = lowp.mul %5, %6 : !lowp.float<e4m3, fn>
  %9 = lowp.mul %8, %7 : !lowp.float<e4m3, fn>
  %unused = lowp.cmp olt, %8, %9 : !lowp.float<e4m3, fn>
  %unused2 = lowp.cast %x rounding stochastic random %r1 overflow saturate : f32 to !lowp.fixed<s4.4, wrap>
  func.return %9 : !lowp.float<e4m3, fn>
}
