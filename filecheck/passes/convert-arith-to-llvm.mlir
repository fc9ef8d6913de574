// RUN: tc-opt %s -p convert-arith-to-llvm | filecheck %s

// CHECK-LABEL: func.func @integers
// CHECK-SAME:    (%[[A:.*]]: i32, %[[B:.*]]: i32)
// CHECK-NEXT:    %[[ADD:.*]] = llvm.add %[[A]], %[[B]] overflow<nsw> : i32
// CHECK-NEXT:    %[[SUB:.*]] = llvm.sub %[[ADD]], %[[B]] : i32
// CHECK-NEXT:    %[[MUL:.*]] = llvm.mul %[[SUB]], %[[B]] : i32
// CHECK-NEXT:    %[[SDIV:.*]] = llvm.sdiv %[[MUL]], %[[B]] : i32
// CHECK-NEXT:    %[[UDIV:.*]] = llvm.udiv %[[SDIV]], %[[B]] : i32
// CHECK-NEXT:    %[[SREM:.*]] = llvm.srem %[[UDIV]], %[[B]] : i32
// CHECK-NEXT:    %[[UREM:.*]] = llvm.urem %[[SREM]], %[[B]] : i32
// CHECK-NEXT:    %[[AND:.*]] = llvm.and %[[UREM]], %[[B]] : i32
// CHECK-NEXT:    %[[OR:.*]] = llvm.or %[[AND]], %[[B]] : i32
// CHECK-NEXT:    %[[XOR:.*]] = llvm.xor %[[OR]], %[[B]] : i32
// CHECK-NEXT:    %[[SHL:.*]] = llvm.shl %[[XOR]], %[[B]] : i32
// CHECK-NEXT:    %[[ASHR:.*]] = llvm.ashr %[[SHL]], %[[B]] : i32
// CHECK-NEXT:    %[[LSHR:.*]] = llvm.lshr %[[ASHR]], %[[B]] : i32
// CHECK-NEXT:    %[[MIN:.*]] = llvm.call_intrinsic "llvm.smin.i32"(%[[LSHR]], %[[B]]) : (i32, i32) -> i32
// CHECK-NEXT:    %[[MAX:.*]] = llvm.call_intrinsic "llvm.umax.i32"(%[[MIN]], %[[B]]) : (i32, i32) -> i32
// CHECK-NEXT:    func.return %[[MAX]] : i32
func.func @integers(%a: i32, %b: i32) -> i32 {
  %0 = arith.addi %a, %b overflow<nsw> : i32
  %1 = arith.subi %0, %b : i32
  %2 = arith.muli %1, %b : i32
  %3 = arith.divsi %2, %b : i32
  %4 = arith.divui %3, %b : i32
  %5 = arith.remsi %4, %b : i32
  %6 = arith.remui %5, %b : i32
  %7 = arith.andi %6, %b : i32
  %8 = arith.ori %7, %b : i32
  %9 = arith.xori %8, %b : i32
  %10 = arith.shli %9, %b : i32
  %11 = arith.shrsi %10, %b : i32
  %12 = arith.shrui %11, %b : i32
  %13 = arith.minsi %12, %b : i32
  %14 = arith.maxui %13, %b : i32
  func.return %14 : i32
}

// index is i64: one cast per index value, right after its definition; results that
// are still used as index are cast back.
// CHECK-LABEL: func.func @index_values
// CHECK-SAME:    (%[[I:.*]]: index, %[[J:.*]]: index) -> index
// CHECK-NEXT:    %[[I64:.*]] = builtin.unrealized_conversion_cast %[[I]] : index to i64
// CHECK-NEXT:    %[[J64:.*]] = builtin.unrealized_conversion_cast %[[J]] : index to i64
// CHECK-NEXT:    %[[C:.*]] = llvm.mlir.constant(4) : i64
// CHECK-NEXT:    %[[M:.*]] = llvm.mul %[[I64]], %[[C]] : i64
// CHECK-NEXT:    %[[S:.*]] = llvm.add %[[M]], %[[J64]] : i64
// CHECK-NEXT:    %[[R:.*]] = builtin.unrealized_conversion_cast %[[S]] : i64 to index
// CHECK-NEXT:    func.return %[[R]] : index
func.func @index_values(%i: index, %j: index) -> index {
  %c4 = arith.constant 4 : index
  %0 = arith.muli %i, %c4 : index
  %1 = arith.addi %0, %j : index
  func.return %1 : index
}

// floordivsi: sdiv, minus one when the remainder is nonzero with the divisor's
// opposite sign. ceildivsi: plus one when it has the divisor's sign.
// CHECK-LABEL: func.func @rounding_divisions
// CHECK-SAME:    (%[[A:.*]]: i64, %[[B:.*]]: i64)
// CHECK:         %[[Q:.*]] = llvm.sdiv %[[A]], %[[B]] : i64
// CHECK-NEXT:    %[[R:.*]] = llvm.srem %[[A]], %[[B]] : i64
// CHECK-NEXT:    %[[ZERO:.*]] = llvm.mlir.constant(0) : i64
// CHECK-NEXT:    %[[RNEG:.*]] = llvm.icmp "slt" %[[R]], %[[ZERO]] : i64
// CHECK-NEXT:    %[[BNEG:.*]] = llvm.icmp "slt" %[[B]], %[[ZERO]] : i64
// CHECK-NEXT:    %[[DIFF:.*]] = llvm.xor %[[RNEG]], %[[BNEG]] : i1
// CHECK-NEXT:    %[[NZ:.*]] = llvm.icmp "ne" %[[R]], %[[ZERO]] : i64
// CHECK-NEXT:    %[[FIX:.*]] = llvm.and %[[NZ]], %[[DIFF]] : i1
// CHECK-NEXT:    %[[ONE:.*]] = llvm.mlir.constant(1) : i64
// CHECK-NEXT:    %[[QM1:.*]] = llvm.sub %[[Q]], %[[ONE]] : i64
// CHECK-NEXT:    %[[FLOOR:.*]] = llvm.select %[[FIX]], %[[QM1]], %[[Q]] : i1, i64
// CHECK:         llvm.sdiv
// CHECK:         llvm.add
// CHECK:         %[[CEIL:.*]] = llvm.select
// CHECK:         llvm.udiv
// CHECK:         %[[CEILU:.*]] = llvm.select
func.func @rounding_divisions(%a: i64, %b: i64) -> (i64, i64, i64) {
  %0 = arith.floordivsi %a, %b : i64
  %1 = arith.ceildivsi %a, %b : i64
  %2 = arith.ceildivui %a, %b : i64
  func.return %0, %1, %2 : i64, i64, i64
}

// CHECK-LABEL: func.func @comparisons
// CHECK:         llvm.icmp "ult" %{{.*}}, %{{.*}} : i32
// CHECK-NEXT:    llvm.icmp "sge" %{{.*}}, %{{.*}} : i32
// CHECK-NEXT:    llvm.fcmp "une" %{{.*}}, %{{.*}} : f64
// CHECK-NEXT:    llvm.fcmp "ord" %{{.*}}, %{{.*}} : f64
// CHECK-NEXT:    llvm.mlir.constant(false) : i1
// CHECK-NEXT:    llvm.mlir.constant(true) : i1
// CHECK-NEXT:    llvm.select %{{.*}}, %{{.*}}, %{{.*}} : i1, f64
func.func @comparisons(%a: i32, %b: i32, %x: f64, %y: f64) -> (i1, i1, i1, i1, i1, i1, f64) {
  %0 = arith.cmpi ult, %a, %b : i32
  %1 = arith.cmpi sge, %a, %b : i32
  %2 = arith.cmpf une, %x, %y : f64
  %3 = arith.cmpf ord, %x, %y : f64
  %4 = arith.cmpf false, %x, %y : f64
  %5 = arith.cmpf true, %x, %y : f64
  %6 = arith.select %0, %x, %y : f64
  func.return %0, %1, %2, %3, %4, %5, %6 : i1, i1, i1, i1, i1, i1, f64
}

// CHECK-LABEL: func.func @floats
// CHECK-SAME:    (%[[X:.*]]: f32, %[[Y:.*]]: f32)
// CHECK-NEXT:    %[[ADD:.*]] = llvm.fadd %[[X]], %[[Y]] {fastmathFlags = #llvm.fastmath<fast>} : f32
// CHECK-NEXT:    %[[SUB:.*]] = llvm.fsub %[[ADD]], %[[Y]] : f32
// CHECK-NEXT:    %[[MUL:.*]] = llvm.fmul %[[SUB]], %[[Y]] : f32
// CHECK-NEXT:    %[[DIV:.*]] = llvm.fdiv %[[MUL]], %[[Y]] : f32
// CHECK-NEXT:    %[[NEG:.*]] = llvm.fneg %[[DIV]] : f32
// CHECK-NEXT:    %[[MINIMUM:.*]] = llvm.call_intrinsic "llvm.minimum.f32"(%[[NEG]], %[[Y]]) : (f32, f32) -> f32
// CHECK-NEXT:    %[[MAXIMUM:.*]] = llvm.call_intrinsic "llvm.maximum.f32"(%[[MINIMUM]], %[[Y]]) : (f32, f32) -> f32
// CHECK-NEXT:    %[[MINNUM:.*]] = llvm.call_intrinsic "llvm.minnum.f32"(%[[MAXIMUM]], %[[Y]]) : (f32, f32) -> f32
// CHECK-NEXT:    %[[MAXNUM:.*]] = llvm.call_intrinsic "llvm.maxnum.f32"(%[[MINNUM]], %[[Y]]) : (f32, f32) -> f32
// CHECK-NEXT:    func.return %[[MAXNUM]] : f32
func.func @floats(%x: f32, %y: f32) -> f32 {
  %0 = arith.addf %x, %y fastmath<fast> : f32
  %1 = arith.subf %0, %y : f32
  %2 = arith.mulf %1, %y : f32
  %3 = arith.divf %2, %y : f32
  %4 = arith.negf %3 : f32
  %5 = arith.minimumf %4, %y : f32
  %6 = arith.maximumf %5, %y : f32
  %7 = arith.minnumf %6, %y : f32
  %8 = arith.maxnumf %7, %y : f32
  func.return %8 : f32
}

// f16 stays half; bf16 is its i16 bit pattern, computed in f32 and rounded back to
// nearest even (NaN stays quiet).
// CHECK-LABEL: func.func @narrow_floats
// CHECK-SAME:    (%[[H:.*]]: f16, %[[B:.*]]: bf16)
// CHECK-NEXT:    %[[BBITS:.*]] = builtin.unrealized_conversion_cast %[[B]] : bf16 to i16
// CHECK-NEXT:    %[[HSUM:.*]] = llvm.fadd %[[H]], %[[H]] : f16
// CHECK-NEXT:    %[[WIDE:.*]] = llvm.zext %[[BBITS]] : i16 to i32
// CHECK-NEXT:    %[[SIXTEEN:.*]] = llvm.mlir.constant(16 : i32) : i32
// CHECK-NEXT:    %[[SHIFTED:.*]] = llvm.shl %[[WIDE]], %[[SIXTEEN]] : i32
// CHECK-NEXT:    %[[F:.*]] = llvm.bitcast %[[SHIFTED]] : i32 to f32
// CHECK:         %[[PRODUCT:.*]] = llvm.fmul %[[F]], %[[F2:.*]] : f32
// CHECK-NEXT:    %[[PBITS:.*]] = llvm.bitcast %[[PRODUCT]] : f32 to i32
// CHECK:         llvm.mlir.constant(32767 : i32) : i32
// CHECK:         %[[ISNAN:.*]] = llvm.fcmp "uno" %[[PRODUCT]], %[[PRODUCT]] : f32
// CHECK-NEXT:    %[[ROUNDED:.*]] = llvm.select %[[ISNAN]], %{{.*}}, %{{.*}} : i1, i32
// CHECK-NEXT:    %[[BF:.*]] = llvm.trunc %[[ROUNDED]] : i32 to i16
// CHECK-NEXT:    %[[FLIP:.*]] = llvm.mlir.constant(-32768 : i16) : i16
// CHECK-NEXT:    %[[NEG:.*]] = llvm.xor %[[BF]], %[[FLIP]] : i16
// CHECK-NEXT:    %[[RES:.*]] = builtin.unrealized_conversion_cast %[[NEG]] : i16 to bf16
// CHECK-NEXT:    func.return %[[HSUM]], %[[RES]] : f16, bf16
func.func @narrow_floats(%h: f16, %b: bf16) -> (f16, bf16) {
  %0 = arith.addf %h, %h : f16
  %1 = arith.mulf %b, %b : bf16
  %2 = arith.negf %1 : bf16
  func.return %0, %2 : f16, bf16
}

// CHECK-LABEL: func.func @constants
// CHECK-NEXT:    %[[I:.*]] = llvm.mlir.constant(-1 : i8) : i8
// CHECK-NEXT:    %[[X:.*]] = llvm.mlir.constant(4) : i64
// CHECK-NEXT:    %[[XI:.*]] = builtin.unrealized_conversion_cast %[[X]] : i64 to index
// CHECK-NEXT:    %[[T:.*]] = llvm.mlir.constant(true) : i1
// CHECK-NEXT:    %[[F:.*]] = llvm.mlir.constant(1.500000e+00 : f16) : f16
// CHECK-NEXT:    %[[BF:.*]] = llvm.mlir.constant(16320 : i16) : i16
// CHECK-NEXT:    %[[BFB:.*]] = builtin.unrealized_conversion_cast %[[BF]] : i16 to bf16
// CHECK-NEXT:    func.return %[[I]], %[[XI]], %[[T]], %[[F]], %[[BFB]]
func.func @constants() -> (i8, index, i1, f16, bf16) {
  %0 = arith.constant 255 : i8
  %1 = arith.constant 4 : index
  %2 = arith.constant true
  %3 = arith.constant 1.5 : f16
  %4 = arith.constant 1.5 : bf16
  func.return %0, %1, %2, %3, %4 : i8, index, i1, f16, bf16
}

// CHECK-LABEL: func.func @integer_casts
// CHECK-SAME:    (%[[I:.*]]: index, %[[A:.*]]: i32, %[[B:.*]]: i8)
// CHECK-NEXT:    %[[I64:.*]] = builtin.unrealized_conversion_cast %[[I]] : index to i64
// CHECK-NEXT:    %[[T:.*]] = llvm.trunc %[[I64]] : i64 to i32
// CHECK-NEXT:    %[[S:.*]] = llvm.sext %[[A]] : i32 to i64
// CHECK-NEXT:    builtin.unrealized_conversion_cast %[[S]] : i64 to index
// CHECK-NEXT:    %[[Z:.*]] = llvm.zext %[[B]] : i8 to i32
// CHECK-NEXT:    %[[SX:.*]] = llvm.sext %[[B]] : i8 to i32
// CHECK-NEXT:    %[[TR:.*]] = llvm.trunc %[[A]] : i32 to i8
func.func @integer_casts(%i: index, %a: i32, %b: i8) -> (i32, index, i32, i32, i8, i64) {
  %0 = arith.index_cast %i : index to i32
  %1 = arith.index_cast %a : i32 to index
  %2 = arith.extui %b : i8 to i32
  %3 = arith.extsi %b : i8 to i32
  %4 = arith.trunci %a : i32 to i8
  %5 = arith.index_cast %i : index to i64
  func.return %0, %1, %2, %3, %4, %5 : i32, index, i32, i32, i8, i64
}

// CHECK-LABEL: func.func @float_casts
// CHECK-SAME:    (%[[X:.*]]: f32, %[[D:.*]]: f64, %[[H:.*]]: f16)
// CHECK-NEXT:    %[[E:.*]] = llvm.fpext %[[X]] : f32 to f64
// CHECK-NEXT:    %[[T:.*]] = llvm.fptrunc %[[D]] : f64 to f32
// CHECK-NEXT:    %[[HE:.*]] = llvm.fpext %[[H]] : f16 to f64
// f64 -> f16: round to odd in f32 (no `fptrunc double to half`), then to f16.
// CHECK-NEXT:    %[[R:.*]] = llvm.fptrunc %[[D]] : f64 to f32
// CHECK-NEXT:    %[[BACK:.*]] = llvm.fpext %[[R]] : f32 to f64
// CHECK:         %[[INEXACT:.*]] = llvm.fcmp "one" %[[BACK]], %[[D]] : f64
// CHECK:         %[[ODD:.*]] = llvm.bitcast %{{.*}} : i32 to f32
// CHECK-NEXT:    %[[HALF:.*]] = llvm.fptrunc %[[ODD]] : f32 to f16
// CHECK-NEXT:    func.return %[[E]], %[[T]], %[[HE]], %[[HALF]]
func.func @float_casts(%x: f32, %d: f64, %h: f16) -> (f64, f32, f64, f16) {
  %0 = arith.extf %x : f32 to f64
  %1 = arith.truncf %d : f64 to f32
  %2 = arith.extf %h : f16 to f64
  %3 = arith.truncf %d : f64 to f16
  func.return %0, %1, %2, %3 : f64, f32, f64, f16
}

// uitofp of i32 goes through i64; fptosi/fptoui saturate.
// CHECK-LABEL: func.func @int_float_conversions
// CHECK-SAME:    (%[[A:.*]]: i32, %[[X:.*]]: f32)
// CHECK-NEXT:    %[[S:.*]] = llvm.sitofp %[[A]] : i32 to f32
// CHECK-NEXT:    %[[Z:.*]] = llvm.zext %[[A]] : i32 to i64
// CHECK-NEXT:    %[[U:.*]] = llvm.sitofp %[[Z]] : i64 to f64
// CHECK-NEXT:    %[[FS:.*]] = llvm.call_intrinsic "llvm.fptosi.sat.i32.f32"(%[[X]]) : (f32) -> i32
// CHECK-NEXT:    %[[FU:.*]] = llvm.call_intrinsic "llvm.fptoui.sat.i8.f32"(%[[X]]) : (f32) -> i8
// CHECK-NEXT:    %[[BC:.*]] = llvm.bitcast %[[X]] : f32 to i32
// CHECK-NEXT:    func.return %[[S]], %[[U]], %[[FS]], %[[FU]], %[[BC]]
func.func @int_float_conversions(%a: i32, %x: f32) -> (f32, f64, i32, i8, i32) {
  %0 = arith.sitofp %a : i32 to f32
  %1 = arith.uitofp %a : i32 to f64
  %2 = arith.fptosi %x : f32 to i32
  %3 = arith.fptoui %x : f32 to i8
  %4 = arith.bitcast %x : f32 to i32
  func.return %0, %1, %2, %3, %4 : f32, f64, i32, i8, i32
}

// u64 -> f32: halve with a sticky bit when the top bit is set, convert, double.
// CHECK-LABEL: func.func @unsigned_64
// CHECK-SAME:    (%[[A:.*]]: i64)
// CHECK-NEXT:    %[[ZERO:.*]] = llvm.mlir.constant(0) : i64
// CHECK-NEXT:    %[[TOP:.*]] = llvm.icmp "slt" %[[A]], %[[ZERO]] : i64
// CHECK:         %[[F:.*]] = llvm.sitofp %{{.*}} : i64 to f32
// CHECK-NEXT:    %[[TWICE:.*]] = llvm.fadd %[[F]], %[[F]] : f32
// CHECK-NEXT:    %[[R:.*]] = llvm.select %[[TOP]], %[[TWICE]], %[[F]] : i1, f32
// CHECK-NEXT:    func.return %[[R]] : f32
func.func @unsigned_64(%a: i64) -> f32 {
  %0 = arith.uitofp %a : i64 to f32
  func.return %0 : f32
}
