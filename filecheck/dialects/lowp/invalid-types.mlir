// RUN: tc-opt %s --split-input-file --verify-diagnostics

// Invalid lowp types, one per split: each is a parse error located at the type's
// parameters, with the rule it breaks. (The Python constructors raise the same
// messages as VerifyException: tests/dialects/test_lowp_dialect.py.)

// expected-error @+1 {{!lowp.float<e0m3, fn>: the exponent must have at least 1 bit, got 0}}
"test.op"() : () -> !lowp.float<e0m3, fn>

// -----

// expected-error @+1 {{!lowp.float<e10m5, ieee>: its values span 2^-515 to 2^512, beyond [2^-511, 2^511) where f64 computes the arithmetic exactly enough, whatever the bias: it has too many exponent bits}}
"test.op"() : () -> !lowp.float<e10m5, ieee>

// -----

// expected-error @+1 {{!lowp.float<e12m0, unsigned>: its values span 2^-2047 to 2^2048, beyond [2^-511, 2^511) where f64 computes the arithmetic exactly enough, whatever the bias: it has too many exponent bits}}
"test.op"() : () -> !lowp.float<e12m0, unsigned>

// -----

// expected-error @+1 {{!lowp.float<e8m8, ieee> has 17 bits; a float format has at most 16}}
"test.op"() : () -> !lowp.float<e8m8, ieee>

// -----

// expected-error @+1 {{!lowp.float<e5m11, fn> has 17 bits; a float format has at most 16}}
"test.op"() : () -> !lowp.float<e5m11, fn>

// -----

// expected-error @+1 {{!lowp.float<e5m2, unsigned>: an unsigned format is a scale, exponent only, so it has no mantissa bits (got 2)}}
"test.op"() : () -> !lowp.float<e5m2, unsigned>

// -----

// expected-error @+1 {{!lowp.float<e1m2, ieee>: an ieee format needs at least 2 exponent bits (one exponent is taken by infinities and NaNs)}}
"test.op"() : () -> !lowp.float<e1m2, ieee>

// -----

// expected-error @+1 {{!lowp.float<e5m0, ieee>: an ieee format needs at least 1 mantissa bit (to tell NaN from infinity)}}
"test.op"() : () -> !lowp.float<e5m0, ieee>

// -----

// expected-error @+1 {{!lowp.float<e1m0, fn>: an fn format needs at least 2 exponent and mantissa bits (e1m0 holds only 0 and NaN)}}
"test.op"() : () -> !lowp.float<e1m0, fn>

// -----

// expected-error @+1 {{!lowp.float<e8m7, ieee, bias = -1000>: its values span 2^994 to 2^1255, beyond [2^-511, 2^511) where f64 computes the arithmetic exactly enough; the bias must be -256 to 505}}
"test.op"() : () -> !lowp.float<e8m7, ieee, bias = -1000>

// -----

// expected-error @+1 {{!lowp.float<e8m7, ieee, bias = 506>: its values span 2^-512 to 2^-251, beyond [2^-511, 2^511) where f64 computes the arithmetic exactly enough; the bias must be -256 to 505}}
"test.op"() : () -> !lowp.float<e8m7, ieee, bias = 506>

// -----

// expected-error @+1 {{!lowp.float<e10m0, fn>: its values span 2^-510 to 2^512, beyond [2^-511, 2^511) where f64 computes the arithmetic exactly enough; the bias must be 512}}
"test.op"() : () -> !lowp.float<e10m0, fn>

// -----

// expected-error @+1 {{expected the kind of a !lowp.float, one of ieee, fn, fnuz, unsigned, finite}}
"test.op"() : () -> !lowp.float<e4m3, fnu>

// -----

// expected-error @+1 {{Expected ',' and the kind (ieee, fn, fnuz, unsigned, finite) after the exponent and mantissa bits of !lowp.float}}
"test.op"() : () -> !lowp.float<e4m3>

// -----

// expected-error @+1 {{expected exponent and mantissa bits such as `e4m3`}}
"test.op"() : () -> !lowp.float<4, 3, fn>

// -----

// expected-error @+1 {{expected exponent and mantissa bits such as `e4m3`}}
"test.op"() : () -> !lowp.float<m3e4, fn>

// -----

// expected-error @+1 {{Expected 'bias' (the only optional parameter of !lowp.float)}}
"test.op"() : () -> !lowp.float<e4m3, fn, scale = 3>

// -----

// expected-error @+1 {{Expected integer literal as the bias of !lowp.float}}
"test.op"() : () -> !lowp.float<e4m3, fn, bias = x>

// -----

// expected-error @+1 {{!lowp.fixed<s0.8, saturate>: a signed format needs at least 1 integer bit, the sign (s1.8 covers [-1, 1))}}
"test.op"() : () -> !lowp.fixed<s0.8, saturate>

// -----

// expected-error @+1 {{!lowp.fixed<u0.0, wrap> has no bits}}
"test.op"() : () -> !lowp.fixed<u0.0, wrap>

// -----

// expected-error @+1 {{!lowp.fixed<s20.13, wrap> has 33 bits; a fixed-point format has at most 32}}
"test.op"() : () -> !lowp.fixed<s20.13, wrap>

// -----

// expected-error @+1 {{!lowp.fixed<u33.0, saturate> has 33 bits; a fixed-point format has at most 32}}
"test.op"() : () -> !lowp.fixed<u33.0, saturate>

// -----

// expected-error @+1 {{expected the overflow rule of a !lowp.fixed, one of saturate, wrap}}
"test.op"() : () -> !lowp.fixed<s4.4, clamp>

// -----

// expected-error @+1 {{Expected ',' and the overflow rule (saturate, wrap) after the bits of !lowp.fixed}}
"test.op"() : () -> !lowp.fixed<s4.4>

// -----

// expected-error @+1 {{expected s or u, integer bits `.` fraction bits such as `s4.4`}}
"test.op"() : () -> !lowp.fixed<q4.4, saturate>

// -----

// expected-error @+1 {{expected s or u, integer bits `.` fraction bits such as `s4.4`}}
"test.op"() : () -> !lowp.fixed<s4, saturate>

// -----

// expected-error @+1 {{expected the float overflow rule of a !lowp.fixed, one of saturate, wrap, zero}}
"test.op"() : () -> !lowp.fixed<s4.0, wrap, float_overflow = nan>

// -----

// expected-error @+1 {{Expected 'float_overflow' (the only optional parameter of !lowp.fixed)}}
"test.op"() : () -> !lowp.fixed<s4.0, wrap, zero>
