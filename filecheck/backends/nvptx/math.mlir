// REQUIRES: libdevice
// RUN: TC_NVPTX %s --arch sm_90 > %t.ptx
// RUN: filecheck %s < %t.ptx
// RUN: not grep __nv %t.ptx
// RUN: TC_NVPTX %s --emit llvm-ir | filecheck %s --check-prefix=IR

// Math calls libdevice (f16 computed in f32); libdevice is linked, its reflect queries
// resolved and its functions inlined, so the PTX calls nothing external.

// IR-DAG:      declare float @"__nv_expf"(float
// IR-DAG:      declare double @"__nv_erfinv"(double
// IR-DAG:      declare float @"__nv_tanhf"(float
// IR:          define ptx_kernel void @"activations"(
// IR:            fpext half {{.*}} to float
// IR:            call ccc float @"__nv_tanhf"(

// CHECK-LABEL: .visible .entry activations(
// CHECK:         ex2.approx
// CHECK:         ret;

"gpu.module"() <{sym_name = "kernels"}> ({
  "gpu.func"() <{function_type = (memref<64xf32>, memref<64xf64>, memref<64xf16>) -> (), kernel}> ({
  ^bb0(%X: memref<64xf32>, %D: memref<64xf64>, %H: memref<64xf16>):
    %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %x = memref.load %X[%t] : memref<64xf32>
    %e = math.exp %x : f32
    memref.store %e, %X[%t] : memref<64xf32>
    %d = memref.load %D[%t] : memref<64xf64>
    %i = tc.builtin "erfinv"(%d) : (f64) -> f64
    memref.store %i, %D[%t] : memref<64xf64>
    %h = memref.load %H[%t] : memref<64xf16>
    %g = math.tanh %h : f16
    memref.store %g, %H[%t] : memref<64xf16>
    "gpu.return"() : () -> ()
  }) {sym_name = "activations"} : () -> ()
}) : () -> ()
