// RUN: tc-opt %s -p lower-lowp | filecheck %s

// One routine per (op, types, rounding, overflow), emitted once per module and called
// by every use; other attributes make other routines, named after them.

// CHECK-LABEL: func.func @uses
// CHECK-SAME:    (%[[X:.*]]: f32, %[[Y:.*]]: f32, %[[R:.*]]: i32) -> i1
// CHECK-NEXT:    %[[A:.*]] = func.call @__lowp_cast_f32_to_e5m2_rne(%[[X]]) : (f32) -> i8
// CHECK-NEXT:    %[[B:.*]] = func.call @__lowp_cast_f32_to_e5m2_rne(%[[Y]]) : (f32) -> i8
// CHECK-NEXT:    %[[C:.*]] = func.call @__lowp_cast_f32_to_e5m2_rtz_sat(%[[X]]) : (f32) -> i8
// CHECK-NEXT:    %[[S:.*]] = func.call @__lowp_add_e5m2_rne(%[[A]], %[[B]]) : (i8, i8) -> i8
// CHECK-NEXT:    %[[T:.*]] = func.call @__lowp_add_e5m2_rne(%[[S]], %[[C]]) : (i8, i8) -> i8
// CHECK-NEXT:    %[[U:.*]] = func.call @__lowp_mul_e5m2_sr(%[[S]], %[[T]], %[[R]]) : (i8, i8, i32) -> i8
// CHECK-NEXT:    %[[L:.*]] = func.call @__lowp_cmp_olt_e5m2(%[[U]], %[[T]]) : (i8, i8) -> i1
// CHECK-NEXT:    func.return %[[L]] : i1
// CHECK-LABEL: func.func @more
// CHECK-NEXT:    func.call @__lowp_cast_f32_to_e5m2_rne
// CHECK-NEXT:    func.call @__lowp_add_e5m2_rne
// CHECK-NOT:   func.func @__lowp_cast_f32_to_e5m2_rne
// CHECK:       func.func private @__lowp_cast_f32_to_e5m2_rne(
// CHECK-NOT:   func.func private @__lowp_cast_f32_to_e5m2_rne(
// CHECK:       func.func private @__lowp_cast_f32_to_e5m2_rtz_sat(
// CHECK:       func.func private @__lowp_add_e5m2_rne(
// CHECK-NOT:   func.func private @__lowp_add_e5m2_rne(
// CHECK:       func.func private @__lowp_mul_e5m2_sr(%{{.*}}: i8, %{{.*}}: i8, %{{.*}}: i32) -> i8
// CHECK:       func.func private @__lowp_cmp_olt_e5m2(%{{.*}}: i8, %{{.*}}: i8) -> i1
// CHECK-NOT:   func.func
func.func @uses(%x: f32, %y: f32, %r: i32) -> i1 {
  %a = lowp.cast %x : f32 to !lowp.float<e5m2, ieee>
  %b = lowp.cast %y : f32 to !lowp.float<e5m2, ieee>
  %c = lowp.cast %x rounding toward_zero overflow saturate : f32 to !lowp.float<e5m2, ieee>
  %s = lowp.add %a, %b : !lowp.float<e5m2, ieee>
  %t = lowp.add %s, %c : !lowp.float<e5m2, ieee>
  %u = lowp.mul %s, %t rounding stochastic random %r : !lowp.float<e5m2, ieee>
  %l = lowp.cmp olt, %u, %t : !lowp.float<e5m2, ieee>
  func.return %l : i1
}
func.func @more(%x: f32) -> !lowp.float<e5m2, ieee> {
  %a = lowp.cast %x : f32 to !lowp.float<e5m2, ieee>
  %s = lowp.add %a, %a : !lowp.float<e5m2, ieee>
  func.return %s : !lowp.float<e5m2, ieee>
}
