// RUN: tc-opt %s | tc-opt | filecheck %s
// RUN: tc-opt %s --print-op-generic | tc-opt --print-op-generic | tc-opt | filecheck %s

// The lowp types printed back after a round trip through the custom and the generic
// form: the bias only where it is not the default 2^(E-1) - 1 (also when the input
// spells the default out), every kind, fixed point signed and unsigned, saturating and
// wrapping, float_overflow only where it differs from the overflow rule, and the
// extremes of the widths and of the bias.

// CHECK-LABEL: func.func @floats(
// CHECK-SAME:    %a: !lowp.float<e4m3, fn>,
// CHECK-SAME:    %b: !lowp.float<e4m3, fn>,
// CHECK-SAME:    %c: !lowp.float<e4m3, fnuz, bias = 8>,
// CHECK-SAME:    %d: !lowp.float<e4m3, fnuz, bias = 11>,
// CHECK-SAME:    %e: !lowp.float<e4m3, fnuz>,
// CHECK-SAME:    %f: !lowp.float<e5m2, ieee>,
// CHECK-SAME:    %g: !lowp.float<e5m2, fnuz, bias = 16>,
// CHECK-SAME:    %h: !lowp.float<e3m4, ieee>,
// CHECK-SAME:    %i: !lowp.float<e4m3, ieee>,
// CHECK-SAME:    %j: !lowp.float<e8m0, unsigned>,
// CHECK-SAME:    %k: !lowp.float<e2m3, fn>,
// CHECK-SAME:    %l: !lowp.float<e3m2, fn>,
// CHECK-SAME:    %m: !lowp.float<e2m1, fn>,
// CHECK-SAME:    %n: !lowp.float<e5m10, ieee>,
// CHECK-SAME:    %o: !lowp.float<e8m7, ieee>,
// CHECK-SAME:    %p: !lowp.float<e9m6, ieee>,
// CHECK-SAME:    %q: !lowp.float<e2m1, ieee>,
// CHECK-SAME:    %r: !lowp.float<e1m1, fn>,
// CHECK-SAME:    %s: !lowp.float<e1m0, fnuz>,
// CHECK-SAME:    %t: !lowp.float<e1m0, unsigned>,
// CHECK-SAME:    %u: !lowp.float<e4m3, ieee, bias = -3>,
// CHECK-SAME:    %v: !lowp.float<e4m3, fn, bias = 0>,
// CHECK-SAME:    %w: !lowp.float<e10m0, fn, bias = 512>,
// CHECK-SAME:    %x: !lowp.float<e2m0, fn>,
// CHECK-SAME:    %y: !lowp.float<e2m1, finite>,
// CHECK-SAME:    %z: !lowp.float<e3m2, finite>,
// CHECK-SAME:    %a1: !lowp.float<e2m3, finite>,
// CHECK-SAME:    %a2: !lowp.float<e1m0, finite>,
// CHECK-SAME:    %a3: !lowp.float<e9m0, unsigned>,
// CHECK-SAME:    %a4: !lowp.float<e8m7, ieee, bias = -256>,
// CHECK-SAME:    %a5: !lowp.float<e8m7, ieee, bias = 505>)
func.func @floats(
    %a : !lowp.float<e4m3, fn>,
    %b : !lowp.float<e4m3, fn, bias = 7>,
    %c : !lowp.float<e4m3, fnuz, bias = 8>,
    %d : !lowp.float<e4m3,fnuz,bias=11>,
    %e : !lowp.float<e4m3, fnuz>,
    %f : !lowp.float<e5m2, ieee>,
    %g : !lowp.float<e5m2, fnuz, bias = 16>,
    %h : !lowp.float<e3m4, ieee>,
    %i : !lowp.float<e4m3, ieee>,
    %j : !lowp.float<e8m0, unsigned>,
    %k : !lowp.float<e2m3, fn>,
    %l : !lowp.float<e3m2, fn>,
    %m : !lowp.float<e2m1, fn>,
    %n : !lowp.float<e5m10, ieee>,
    %o : !lowp.float<e8m7, ieee>,
    %p : !lowp.float<e9m6, ieee>,
    %q : !lowp.float<e2m1, ieee>,
    %r : !lowp.float<e1m1, fn>,
    %s : !lowp.float<e1m0, fnuz>,
    %t : !lowp.float<e1m0, unsigned>,
    %u : !lowp.float<e4m3, ieee, bias = -3>,
    %v : !lowp.float<e4m3, fn, bias = 0>,
    %w : !lowp.float<e10m0, fn, bias = 512>,
    %x : !lowp.float<e2m0, fn>,
    %y : !lowp.float<e2m1, finite>,
    %z : !lowp.float<e3m2, finite>,
    %a1 : !lowp.float<e2m3, finite>,
    %a2 : !lowp.float<e1m0, finite>,
    %a3 : !lowp.float<e9m0, unsigned>,
    %a4 : !lowp.float<e8m7, ieee, bias = -256>,
    %a5 : !lowp.float<e8m7, ieee, bias = 505>) {
  func.return
}

// CHECK-LABEL: func.func @fixed(
// CHECK-SAME:    %a: !lowp.fixed<s4.4, saturate>,
// CHECK-SAME:    %b: !lowp.fixed<u8.0, wrap>,
// CHECK-SAME:    %c: !lowp.fixed<s1.7, saturate>,
// CHECK-SAME:    %d: !lowp.fixed<u0.8, saturate>,
// CHECK-SAME:    %e: !lowp.fixed<s32.0, wrap>,
// CHECK-SAME:    %f: !lowp.fixed<u0.32, wrap>,
// CHECK-SAME:    %g: !lowp.fixed<s16.16, wrap>,
// CHECK-SAME:    %h: !lowp.fixed<s1.0, saturate>,
// CHECK-SAME:    %i: !lowp.fixed<u1.0, wrap>,
// CHECK-SAME:    %j: !lowp.fixed<s4.0, wrap>,
// CHECK-SAME:    %k: !lowp.fixed<u2.0, saturate>,
// CHECK-SAME:    %l: !lowp.fixed<s9.0, saturate>,
// CHECK-SAME:    %m: !lowp.fixed<s1.31, saturate>,
// CHECK-SAME:    %n: !lowp.fixed<s4.0, wrap, float_overflow = zero>,
// CHECK-SAME:    %o: !lowp.fixed<u2.0, wrap, float_overflow = saturate>,
// CHECK-SAME:    %p: !lowp.fixed<s8.8, saturate, float_overflow = wrap>,
// CHECK-SAME:    %q: !lowp.fixed<s8.8, saturate>)
func.func @fixed(
    %a : !lowp.fixed<s4.4, saturate>,
    %b : !lowp.fixed<u8.0, wrap>,
    %c : !lowp.fixed<s1.7, saturate>,
    %d : !lowp.fixed<u0.8, saturate>,
    %e : !lowp.fixed<s32.0, wrap>,
    %f : !lowp.fixed<u0.32, wrap>,
    %g : !lowp.fixed<s16.16, wrap>,
    %h : !lowp.fixed<s1.0, saturate>,
    %i : !lowp.fixed<u1.0,wrap>,
    %j : !lowp.fixed<s4.0, wrap>,
    %k : !lowp.fixed<u2.0, saturate>,
    %l : !lowp.fixed<s9.0, saturate>,
    %m : !lowp.fixed<s1.31, saturate>,
    %n : !lowp.fixed<s4.0, wrap, float_overflow = zero>,
    %o : !lowp.fixed<u2.0,wrap,float_overflow=saturate>,
    %p : !lowp.fixed<s8.8, saturate, float_overflow = wrap>,
    %q : !lowp.fixed<s8.8, saturate, float_overflow = saturate>) {
  func.return
}

// Types in other types' parameters, and as the type of a generic op's result.
// CHECK-LABEL: func.func @nested
// CHECK-SAME:    (%a: memref<4x!lowp.float<e4m3, fn>>, %b: vector<8x!lowp.fixed<s4.4, wrap>>) -> !lowp.float<e5m2, fnuz, bias = 16>
// CHECK:         %{{.*}} = "test.op"() : () -> (!lowp.float<e3m4, ieee>, tuple<!lowp.fixed<u0.8, saturate>>)
func.func @nested(%a: memref<4x!lowp.float<e4m3, fn>>, %b : vector<8x!lowp.fixed<s4.4, wrap>>) -> !lowp.float<e5m2, fnuz, bias = 16> {
  %0 = "test.op"() : () -> !lowp.float<e5m2, fnuz, bias = 16>
  %1, %2 = "test.op"() : () -> (!lowp.float<e3m4, ieee>, tuple<!lowp.fixed<u0.8, saturate>>)
  func.return %0 : !lowp.float<e5m2, fnuz, bias = 16>
}
