// RUN: TC_NVPTX %s --arch sm_80 | filecheck %s --check-prefixes=CHECK,SM80
// RUN: TC_NVPTX %s --arch sm_90 | filecheck %s --check-prefixes=CHECK,SM90
// RUN: TC_NVPTX %s --emit llvm-ir | filecheck %s --check-prefix=IR

// The example of docs/gpu.md: a reversal through shared memory with a barrier. Only
// the gpu.module is compiled; the kernel keeps its name.

// SM80:        .target sm_80
// SM90:        .target sm_90
// CHECK-LABEL: .visible .entry f_part0(
// CHECK-NEXT:    .param .u64 .ptr .align 1 f_part0_param_0,
// CHECK-NEXT:    .param .u64 .ptr .align 1 f_part0_param_1
// CHECK-NEXT:  )
// CHECK-NEXT:  .maxntid 64, 1, 1
// CHECK:         .shared .align 4 .b8 f_part0_shared0[256];
// CHECK:         mov.u32 {{.*}}, %tid.x;
// CHECK:         ld.global.b32
// CHECK:         st.shared.b32
// CHECK:         bar.sync 0;
// CHECK:         ld.shared.b32
// CHECK:         st.global.b32
// CHECK-NOT:   .entry

// IR:          target triple = "nvptx64-nvidia-cuda"
// IR:          @"f_part0_shared0" = internal addrspace(3) global [64 x float] undef
// IR:          define ptx_kernel void @"f_part0"(ptr %{{.*}}, ptr %{{.*}})
// IR:            call i32 @"llvm.nvvm.read.ptx.sreg.tid.x"()
// IR:            getelementptr inbounds float, float addrspace(3)*
// IR:            call void @"llvm.nvvm.barrier.cta.sync.aligned.all"(i32 0)
// IR:          !{ void (ptr, ptr)* @"f_part0", !"maxntidx", i32 64 }
// IR:          !{ i32 4, !"nvvm-reflect-ftz", i32 0 }
// IR-NOT:      @"f"(

builtin.module attributes {gpu.container_module} {
  func.func @f(%A: memref<64xf32>, %C: memref<64xf32>) attributes {tcir.gpu} {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %A, %C) <{kernel = @f_kernels::@f_part0, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0>}> : (index, index, index, index, index, index, memref<64xf32>, memref<64xf32>) -> ()
    func.return
  }
  "gpu.module"() <{sym_name = "f_kernels"}> ({
    "memref.global"() <{sym_name = "f_part0_shared0", type = memref<64xf32, 3 : i64>, initial_value, sym_visibility = "private"}> : () -> ()
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64xf32>) -> (), kernel}> ({
    ^bb0(%A: memref<64xf32>, %C: memref<64xf32>):
      %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %s = memref.get_global @f_part0_shared0 : memref<64xf32, 3 : i64>
      %v = memref.load %A[%tx] : memref<64xf32>
      memref.store %v, %s[%tx] : memref<64xf32, 3 : i64>
      "gpu.barrier"() : () -> ()
      %c63 = arith.constant 63 : index
      %r = arith.subi %c63, %tx : index
      %w = memref.load %s[%r] : memref<64xf32, 3 : i64>
      memref.store %w, %C[%tx] : memref<64xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "f_part0", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
