// RUN: tc-opt %s -p 'lower-lowp{arch=sm_90}' | filecheck %s
// RUN: tc-opt %s -p 'lower-lowp{arch=sm_80}' | filecheck %s --check-prefix=SM80
// RUN: TC_NVPTX %s --arch sm_90 | filecheck %s --check-prefix=PTX
// RUN: TC_NVPTX %s --arch sm_80 | filecheck %s --check-prefix=PTX80

// sm_89 and later convert between f32/f16 and float8_e4m3fn/e5m2 in hardware: a cast
// rounded to nearest even becomes `cvt.rn.satfinite` (a few selects give NaNs their
// sign and, under the format's overflow rule, overflow its pattern), a decode
// `cvt.rn.f16x2` (exact). Toward zero keeps the software routine, as does sm_80.

// CHECK-LABEL: func.func @casts
// CHECK:         func.call @__lowp_cast_f32_to_e4m3fn_rne_cvt(%{{.*}}) : (f32) -> i8
// CHECK:         func.call @__lowp_cast_f16_to_e5m2_rne_sat_cvt(%{{.*}}) : (f16) -> i8
// CHECK:         func.call @__lowp_cast_e4m3fn_to_f32_rne_cvt(%{{.*}}) : (i8) -> f32
// CHECK:         func.call @__lowp_cast_f32_to_e4m3fn_rtz(%{{.*}}) : (f32) -> i8
// CHECK:       func.func private @__lowp_cast_f32_to_e4m3fn_rne_cvt(%{{.*}}: f32) -> i8
// CHECK:         llvm.inline_asm "cvt.rn.satfinite.e4m3x2.f32 $0, $1, $2;", "=h,f,f" %{{.*}}, %{{.*}} : (f32, f32) -> i16
// CHECK:       func.func private @__lowp_cast_f16_to_e5m2_rne_sat_cvt(%{{.*}}: f16) -> i8
// CHECK:         llvm.inline_asm "cvt.rn.satfinite.e5m2x2.f16x2 $0, $1;", "=h,r" %{{.*}} : (i32) -> i16
// CHECK:       func.func private @__lowp_cast_e4m3fn_to_f32_rne_cvt(%{{.*}}: i8) -> f32
// CHECK:         llvm.inline_asm "cvt.rn.f16x2.e4m3x2 $0, $1;", "=r,h" %{{.*}} : (i16) -> i32
// CHECK:         arith.extf %{{.*}} : f16 to f32
// CHECK:       func.func private @__lowp_cast_f32_to_e4m3fn_rtz(%{{.*}}: f32) -> i8
// CHECK-NOT:     llvm.inline_asm

// SM80-NOT:    inline_asm
// SM80:        func.call @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}) : (f32) -> i8
// SM80-NOT:    inline_asm

// PTX:         .target sm_90
// PTX-LABEL:   .visible .entry conversions(
// PTX:           cvt.rn.satfinite.e4m3x2.f32
// PTX:           cvt.rn.satfinite.e5m2x2.f16x2
// PTX:           cvt.rn.f16x2.e4m3x2
// PTX-NOT:       call

// PTX80:       .target sm_80
// PTX80-NOT:     satfinite
// PTX80-NOT:     e4m3x2
builtin.module attributes {gpu.container_module} {
  func.func @casts(%x: f32, %h: f16) -> (!lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>, f32, !lowp.float<e4m3, fn>) {
    %a = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
    %b = lowp.cast %h overflow saturate : f16 to !lowp.float<e5m2, ieee>
    %c = lowp.cast %a : !lowp.float<e4m3, fn> to f32
    %d = lowp.cast %x rounding toward_zero : f32 to !lowp.float<e4m3, fn>
    func.return %a, %b, %c, %d : !lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>, f32, !lowp.float<e4m3, fn>
  }
  "gpu.module"() <{sym_name = "k"}> ({
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64xf16>, memref<64x!lowp.float<e4m3, fn>>, memref<64x!lowp.float<e5m2, ieee>>, memref<64xf32>) -> (), kernel}> ({
    ^bb0(%X: memref<64xf32>, %H: memref<64xf16>, %Y: memref<64x!lowp.float<e4m3, fn>>, %Z: memref<64x!lowp.float<e5m2, ieee>>, %F: memref<64xf32>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %X[%t] : memref<64xf32>
      %w = memref.load %H[%t] : memref<64xf16>
      %a = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
      %b = lowp.cast %w overflow saturate : f16 to !lowp.float<e5m2, ieee>
      memref.store %a, %Y[%t] : memref<64x!lowp.float<e4m3, fn>>
      memref.store %b, %Z[%t] : memref<64x!lowp.float<e5m2, ieee>>
      %c = lowp.cast %a : !lowp.float<e4m3, fn> to f32
      memref.store %c, %F[%t] : memref<64xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "conversions", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
