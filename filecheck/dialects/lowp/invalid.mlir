// RUN: tc-opt %s --split-input-file --verify-diagnostics

// Verifier errors of the lowp ops, one per split; the generic form writes what the
// custom syntax cannot (operands of different types, the random bits of another type).

func.func @f(%x : index) {
  // expected-error @+1 {{lowp.cast: the input must be a lowp type, f16, bf16, f32, f64, i8, i16, i32 or i64, got index}}
  %0 = lowp.cast %x : index to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast: the result must be a lowp type, f16, bf16, f32, f64, i8, i16, i32 or i64, got ui8 (a signless integer with `unsigned` reads as unsigned)}}
  %0 = lowp.cast %x : f32 to ui8
  func.return
}

// -----

func.func @f(%x : i4) {
  // expected-error @+1 {{lowp.cast: the input must be a lowp type, f16, bf16, f32, f64, i8, i16, i32 or i64, got i4}}
  %0 = lowp.cast %x : i4 to !lowp.fixed<s4.0, wrap>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast: the result must be a lowp type, f16, bf16, f32, f64, i8, i16, i32 or i64, got vector<4x!lowp.float<e4m3, fn>>}}
  %0 = lowp.cast %x : f32 to vector<4x!lowp.float<e4m3, fn>>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast from f32 to the same type does nothing; use the value}}
  %0 = lowp.cast %x : f32 to f32
  func.return
}

// -----

func.func @f(%x : !lowp.float<e4m3, fnuz, bias = 8>) {
  // expected-error @+1 {{lowp.cast from !lowp.float<e4m3, fnuz, bias = 8> to the same type does nothing; use the value}}
  %0 = lowp.cast %x rounding toward_zero : !lowp.float<e4m3, fnuz, bias = 8> to !lowp.float<e4m3, fnuz, bias = 8>
  func.return
}

// -----

func.func @f(%x : i8) {
  // expected-error @+1 {{lowp.cast from i8 to the same type does nothing; use the value}}
  %0 = lowp.cast %x : unsigned i8 to i8
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast: `unsigned` reads an integer input as unsigned, but the input is f32}}
  %0 = lowp.cast %x : unsigned f32 to !lowp.fixed<u8.0, wrap>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast: `unsigned` reads an integer result as unsigned, but the result is !lowp.fixed<u8.0, wrap>}}
  %0 = lowp.cast %x : f32 to unsigned !lowp.fixed<u8.0, wrap>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{lowp.cast: rounding stochastic needs an operand of random bits (`random %bits`, an i32)}}
  %0 = lowp.cast %x rounding stochastic : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32, %bits : i32) {
  // expected-error @+1 {{lowp.cast: an operand of random bits is only for rounding stochastic, but the rounding is nearest_even}}
  %0 = lowp.cast %x random %bits : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32, %bits : i32) {
  // expected-error @+1 {{lowp.cast: an operand of random bits is only for rounding stochastic, but the rounding is toward_zero}}
  %0 = lowp.cast %x rounding toward_zero random %bits : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32, %bits : i64) {
  // expected-error @+1 {{lowp.cast: the random bits must be an i32, got i64}}
  %0 = "lowp.cast"(%x, %bits) <{rounding = #lowp<rounding stochastic>}> : (f32, i64) -> !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : f32, %b : f32) {
  // expected-error @+1 {{lowp.add works on values of a !lowp.float or !lowp.fixed type, got f32 (arith has the ops of standard types)}}
  %0 = lowp.add %a, %b : f32
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %b : !lowp.float<e5m2, ieee>) {
  // expected-error @+1 {{lowp.sub: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>, !lowp.float<e4m3, fn>}}
  %0 = "lowp.sub"(%a, %b) : (!lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>) -> !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{lowp.mul: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, f32}}
  %0 = "lowp.mul"(%a, %a) : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>) -> f32
  func.return
}

// -----

func.func @f(%a : !lowp.fixed<s4.4, wrap>, %b : !lowp.fixed<s4.4, saturate>) {
  // expected-error @+1 {{lowp.div: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.fixed<s4.4, wrap>, !lowp.fixed<s4.4, saturate>, !lowp.fixed<s4.4, wrap>}}
  %0 = "lowp.div"(%a, %b) : (!lowp.fixed<s4.4, wrap>, !lowp.fixed<s4.4, saturate>) -> !lowp.fixed<s4.4, wrap>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{lowp.div: rounding stochastic needs an operand of random bits (`random %bits`, an i32)}}
  %0 = lowp.div %a, %a rounding stochastic : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %bits : i32) {
  // expected-error @+1 {{lowp.add: an operand of random bits is only for rounding stochastic, but the rounding is nearest_even}}
  %0 = lowp.add %a, %a random %bits : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %bits : i16) {
  // expected-error @+1 {{lowp.mul: the random bits must be an i32, got i16}}
  %0 = "lowp.mul"(%a, %a, %bits) <{rounding = #lowp<rounding stochastic>}> : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, i16) -> !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{lowp.fma: rounding stochastic needs an operand of random bits (`random %bits`, an i32)}}
  %0 = lowp.fma %a, %a, %a rounding stochastic : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %c : !lowp.float<e5m2, ieee>) {
  // expected-error @+1 {{lowp.fma: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>, !lowp.float<e4m3, fn>}}
  %0 = "lowp.fma"(%a, %a, %c) : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>) -> !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : f16) {
  // expected-error @+1 {{lowp.fma works on values of a !lowp.float or !lowp.fixed type, got f16 (arith has the ops of standard types)}}
  %0 = lowp.fma %a, %a, %a : f16
  func.return
}

// -----

func.func @f(%a : !lowp.float<e8m0, unsigned>) {
  // expected-error @+1 {{lowp.neg: !lowp.float<e8m0, unsigned> has no negative values (it is unsigned)}}
  %0 = lowp.neg %a : !lowp.float<e8m0, unsigned>
  func.return
}

// -----

func.func @f(%a : i8) {
  // expected-error @+1 {{lowp.abs works on values of a !lowp.float or !lowp.fixed type, got i8 (arith has the ops of standard types)}}
  %0 = lowp.abs %a : i8
  func.return
}

// -----

func.func @f(%a : !lowp.fixed<s4.4, wrap>) {
  // expected-error @+1 {{lowp.neg: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.fixed<s4.4, wrap>, !lowp.fixed<s4.4, saturate>}}
  %0 = "lowp.neg"(%a) : (!lowp.fixed<s4.4, wrap>) -> !lowp.fixed<s4.4, saturate>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %b : !lowp.float<e4m3, fnuz>) {
  // expected-error @+1 {{lowp.min: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.float<e4m3, fn>, !lowp.float<e4m3, fnuz>, !lowp.float<e4m3, fn>}}
  %0 = "lowp.min"(%a, %b) : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fnuz>) -> !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : bf16) {
  // expected-error @+1 {{lowp.max works on values of a !lowp.float or !lowp.fixed type, got bf16 (arith has the ops of standard types)}}
  %0 = lowp.max %a, %a : bf16
  func.return
}

// -----

func.func @f(%a : !lowp.fixed<s4.4, wrap>) {
  // expected-error @+1 {{lowp.cmp: `olt` compares floats; on !lowp.fixed<s4.4, wrap>, which has no NaN, use one of eq ne lt le gt ge}}
  %0 = lowp.cmp olt, %a, %a : !lowp.fixed<s4.4, wrap>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{lowp.cmp: `lt` compares fixed-point values; on !lowp.float<e4m3, fn> use one of oeq one olt ole ogt oge ueq une ult ule ugt uge ord uno}}
  %0 = lowp.cmp lt, %a, %a : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : f32) {
  // expected-error @+1 {{lowp.cmp works on values of a !lowp.float or !lowp.fixed type, got f32 (arith has the ops of standard types)}}
  %0 = lowp.cmp olt, %a, %a : f32
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>, %b : !lowp.float<e5m2, ieee>) {
  // expected-error @+1 {{lowp.cmp: operands and result must have one lowp type (use lowp.cast to convert), got !lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>}}
  %0 = "lowp.cmp"(%a, %b) <{predicate = #lowp<predicate olt>}> : (!lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>) -> i1
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{lowp.cmp: the result is an i1, got i8}}
  %0 = "lowp.cmp"(%a, %a) <{predicate = #lowp<predicate olt>}> : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>) -> i8
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{property 'predicate' expected in operation 'lowp.cmp'}}
  %0 = "lowp.cmp"(%a, %a) : (!lowp.float<e4m3, fn>, !lowp.float<e4m3, fn>) -> i1
  func.return
}
