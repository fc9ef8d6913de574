// RUN: tc-opt %s -p lower-lowp | filecheck %s
// RUN: TC_NVPTX %s --arch sm_90 | filecheck %s --check-prefix=PTX

// Kernels call routines of their own gpu.module: each symbol table that uses a routine
// gets its copy (the host module too), and the NVPTX backend merges the identical
// copies of several gpu.modules into one PTX module, where they are inlined.

// CHECK-LABEL: func.func @host
// CHECK-NEXT:    func.call @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}) : (f32) -> i8
// CHECK:       "gpu.module"() <{sym_name = "a"}> ({
// CHECK:         "gpu.func"() <{function_type = (memref<64xf32>, memref<64xi8>) -> (), kernel}> ({
// CHECK:           func.call @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}) : (f32) -> i8
// CHECK:         func.func private @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}: f32) -> i8
// CHECK:       }) : () -> ()
// CHECK:       "gpu.module"() <{sym_name = "b"}> ({
// CHECK:           func.call @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}) : (f32) -> i8
// CHECK:           func.call @__lowp_add_e4m3fn_rne(%{{.*}}, %{{.*}}) : (i8, i8) -> i8
// CHECK:         func.func private @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}: f32) -> i8
// CHECK:         func.func private @__lowp_add_e4m3fn_rne(%{{.*}}: i8, %{{.*}}: i8) -> i8
// CHECK:       }) : () -> ()
// CHECK:       func.func private @__lowp_cast_f32_to_e4m3fn_rne(%{{.*}}: f32) -> i8
// CHECK-NOT:   func.func

// PTX:         .target sm_90
// PTX-NOT:     .func
// PTX-LABEL:   .visible .entry first(
// PTX:           ld.global.b32
// PTX:           st.global.b8
// PTX-NOT:       call
// PTX-LABEL:   .visible .entry second(
// PTX:           add.rn.f64
// PTX:           st.global.b8
// PTX-NOT:       call
builtin.module {
  func.func @host(%x: f32) -> !lowp.float<e4m3, fn> {
    %w = lowp.cast %x : f32 to !lowp.float<e4m3, fn>
    func.return %w : !lowp.float<e4m3, fn>
  }
  "gpu.module"() <{sym_name = "a"}> ({
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64x!lowp.float<e4m3, fn>>) -> (), kernel}> ({
    ^bb0(%X: memref<64xf32>, %Y: memref<64x!lowp.float<e4m3, fn>>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %X[%t] : memref<64xf32>
      %w = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
      memref.store %w, %Y[%t] : memref<64x!lowp.float<e4m3, fn>>
      "gpu.return"() : () -> ()
    }) {sym_name = "first", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
  "gpu.module"() <{sym_name = "b"}> ({
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64x!lowp.float<e4m3, fn>>) -> (), kernel}> ({
    ^bb0(%X: memref<64xf32>, %Y: memref<64x!lowp.float<e4m3, fn>>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %v = memref.load %X[%t] : memref<64xf32>
      %w = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
      %s = lowp.add %w, %w : !lowp.float<e4m3, fn>
      memref.store %s, %Y[%t] : memref<64x!lowp.float<e4m3, fn>>
      "gpu.return"() : () -> ()
    }) {sym_name = "second", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
