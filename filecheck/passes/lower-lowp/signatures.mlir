// RUN: tc-opt %s -p lower-lowp | filecheck %s

// Every lowp type becomes its storage integer: signatures, block arguments, calls,
// loop-carried values, memref element types (allocations and globals too). Ops on
// other types are untouched.

// CHECK-LABEL: func.func private @external(i8, i32) -> i16
func.func private @external(!lowp.float<e4m3, fnuz, bias = 8>, !lowp.fixed<u16.16, wrap>) -> !lowp.fixed<s8.8, saturate>

// CHECK:       "memref.global"() <{sym_name = "table", type = memref<4xi8>, initial_value, sym_visibility = "private"}>
"memref.global"() <{sym_name = "table", type = memref<4x!lowp.float<e2m1, finite>>, initial_value, sym_visibility = "private"}> : () -> ()

// CHECK-LABEL: func.func @convert
// CHECK-SAME:    (%[[A:.*]]: i8, %[[Q:.*]]: i32, %[[M:.*]]: memref<2x3xi16>, %[[N:.*]]: index) -> (i16, i8)
// CHECK:         %[[R:.*]] = func.call @external(%[[A]], %[[Q]]) : (i8, i32) -> i16
// CHECK:         %[[T:.*]] = memref.get_global @table : memref<4xi8>
// CHECK:         %[[E:.*]] = memref.load %[[T]][%{{.*}}] : memref<4xi8>
// CHECK:         %[[LOOP:.*]] = scf.for %{{.*}} = %{{.*}} to %[[N]] step %{{.*}} iter_args(%[[ACC:.*]] = %[[R]]) -> (i16) {
// CHECK-NEXT:      %[[S:.*]] = func.call @__lowp_add_qs8_8sat_rne(%[[ACC]], %[[ACC]]) : (i16, i16) -> i16
// CHECK-NEXT:      scf.yield %[[S]] : i16
// CHECK:         memref.store %[[LOOP]], %[[M]][%{{.*}}, %{{.*}}] : memref<2x3xi16>
// CHECK:         %[[BUF:.*]] = memref.alloc() : memref<8xi8>
// CHECK:         func.return %[[LOOP]], %[[E]] : i16, i8
// CHECK:       func.func private @__lowp_add_qs8_8sat_rne(%{{.*}}: i16, %{{.*}}: i16) -> i16
// CHECK-NOT:   lowp.
func.func @convert(%a: !lowp.float<e4m3, fnuz, bias = 8>, %q: !lowp.fixed<u16.16, wrap>,
                   %m: memref<2x3x!lowp.fixed<s8.8, saturate>>, %n: index)
    -> (!lowp.fixed<s8.8, saturate>, !lowp.float<e2m1, finite>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = func.call @external(%a, %q) : (!lowp.float<e4m3, fnuz, bias = 8>, !lowp.fixed<u16.16, wrap>) -> !lowp.fixed<s8.8, saturate>
  %t = memref.get_global @table : memref<4x!lowp.float<e2m1, finite>>
  %e = memref.load %t[%c1] : memref<4x!lowp.float<e2m1, finite>>
  %loop = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %r) -> (!lowp.fixed<s8.8, saturate>) {
    %s = lowp.add %acc, %acc : !lowp.fixed<s8.8, saturate>
    scf.yield %s : !lowp.fixed<s8.8, saturate>
  }
  memref.store %loop, %m[%c0, %c1] : memref<2x3x!lowp.fixed<s8.8, saturate>>
  %buf = memref.alloc() : memref<8x!lowp.float<e5m2, ieee>>
  func.return %loop, %e : !lowp.fixed<s8.8, saturate>, !lowp.float<e2m1, finite>
}
