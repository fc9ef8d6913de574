// RUN: tc-opt %s --split-input-file --verify-diagnostics

// Syntax errors of the lowp ops, one per split, each located where the text goes wrong.

func.func @f(%x : f32) {
  // expected-error @+1 {{expected a rounding mode, one of nearest_even, toward_zero, stochastic, got `up`}}
  %0 = lowp.cast %x rounding up : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{expected an overflow mode, one of format, saturate, got `wrap`}}
  %0 = lowp.cast %x overflow wrap : f32 to !lowp.fixed<s4.4, wrap>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{expected the random bits (an i32 value)}}
  %0 = lowp.cast %x rounding stochastic random : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32, %bits : i64) {
  // expected-error @+1 {{operand is used with type i32, but has been previously used or defined with type i64}}
  %0 = lowp.cast %x rounding stochastic random %bits : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{Expected 'to' between the types of lowp.cast}}
  %0 = lowp.cast %x : f32 !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%x : f32) {
  // expected-error @+1 {{Expected ':' before the input type of lowp.cast}}
  %0 = lowp.cast %x overflow saturate rounding toward_zero : f32 to !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{expected a rounding mode, one of nearest_even, toward_zero, stochastic}}
  %0 = lowp.add %a, %a rounding : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{Expected ',' between the operands of lowp.fma}}
  %0 = lowp.fma %a, %a : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{Expected ':' before the type of lowp.neg}}
  %0 = lowp.neg %a rounding toward_zero : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{Expected ':' before the type of lowp.max}}
  %0 = lowp.max %a, %a overflow saturate : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{expected a comparison predicate, one of oeq, one, olt, ole, ogt, oge, ueq, une, ult, ule, ugt, uge, ord, uno, eq, ne, lt, le, gt, ge, got `true`}}
  %0 = lowp.cmp true, %a, %a : !lowp.float<e4m3, fn>
  func.return
}

// -----

func.func @f(%a : !lowp.float<e4m3, fn>) {
  // expected-error @+1 {{Expected ',' after the predicate of lowp.cmp}}
  %0 = lowp.cmp olt %a, %a : !lowp.float<e4m3, fn>
  func.return
}
