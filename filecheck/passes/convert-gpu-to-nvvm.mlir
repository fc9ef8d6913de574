// RUN: tc-opt %s --split-input-file --verify-diagnostics -p convert-gpu-to-nvvm | filecheck %s

// Thread and block ids, block and grid sizes: special registers (i32) widened to index.
// known_block_size becomes the .maxntid bound.
// CHECK-LABEL: "gpu.module"() <{sym_name = "ids"}>
// CHECK:         func.func @ids(%{{.*}}: memref<6xindex>) attributes {nvvm.kernel, nvvm.maxntid = array<i32: 32, 4, 2>}
// CHECK:           %[[TX32:.*]] = llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.x"() : () -> i32
// CHECK:           %[[TX64:.*]] = llvm.zext %[[TX32]] : i32 to i64
// CHECK:           %[[TX:.*]] = builtin.unrealized_conversion_cast %[[TX64]] : i64 to index
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.y"() : () -> i32
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.z"() : () -> i32
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ctaid.x"() : () -> i32
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.ntid.y"() : () -> i32
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.nctaid.z"() : () -> i32
// CHECK:           memref.store %[[TX]], %{{.*}}[%[[TX]]] : memref<6xindex>
// CHECK:           func.return
// CHECK-NOT:     "gpu.{{thread_id|block_id|block_dim|grid_dim|func|return}}"
"gpu.module"() <{sym_name = "ids"}> ({
  "gpu.func"() <{function_type = (memref<6xindex>) -> (), kernel}> ({
  ^bb0(%out: memref<6xindex>):
    %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %ty = "gpu.thread_id"() <{dimension = #gpu<dim y>}> : () -> index
    %tz = "gpu.thread_id"() <{dimension = #gpu<dim z>}> : () -> index
    %bx = "gpu.block_id"() <{dimension = #gpu<dim x>}> : () -> index
    %dy = "gpu.block_dim"() <{dimension = #gpu<dim y>}> : () -> index
    %gz = "gpu.grid_dim"() <{dimension = #gpu<dim z>}> : () -> index
    memref.store %tx, %out[%tx] : memref<6xindex>
    memref.store %ty, %out[%ty] : memref<6xindex>
    memref.store %tz, %out[%tz] : memref<6xindex>
    memref.store %bx, %out[%bx] : memref<6xindex>
    memref.store %dy, %out[%dy] : memref<6xindex>
    memref.store %gz, %out[%gz] : memref<6xindex>
    "gpu.return"() : () -> ()
  }) {sym_name = "ids", gpu.known_block_size = array<i32: 32, 4, 2>} : () -> ()
}) : () -> ()

// -----

// Shared memory: uninitialized internal globals in address space 3, as many elements
// as the layout spans (4x8 with row stride 9: 3*9 + 7 + 1 = 35), i1 stored as i8.
// A barrier is bar.sync 0. The host function is left alone.
// CHECK-LABEL: func.func @host(
// CHECK:         math.exp
// CHECK:         "gpu.launch_func"
// CHECK-LABEL: "gpu.module"() <{sym_name = "shared"}>
// CHECK-DAG:     llvm.mlir.global internal @tile() {addr_space = 3 : i32} : !llvm.array<64 x f32>
// CHECK-DAG:     llvm.mlir.global internal @padded() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<35 x f16>
// CHECK-DAG:     llvm.mlir.global internal @flags() {addr_space = 3 : i32} : !llvm.array<4 x i8>
// CHECK:         func.func @reverse(%[[A:.*]]: memref<64xf32>) attributes {nvvm.kernel}
// CHECK:           %[[P:.*]] = llvm.mlir.addressof @tile : !llvm.ptr<3>
// CHECK:           %[[S:.*]] = builtin.unrealized_conversion_cast %[[P]] : !llvm.ptr<3> to memref<64xf32, 3 : i64>
// CHECK:           memref.store %{{.*}}, %[[S]][%{{.*}}] : memref<64xf32, 3 : i64>
// CHECK:           %[[ZERO:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK:           llvm.call_intrinsic "llvm.nvvm.barrier.cta.sync.aligned.all"(%[[ZERO]]) : (i32) -> ()
// CHECK:           memref.load %[[S]][%{{.*}}] : memref<64xf32, 3 : i64>
// CHECK:           llvm.mlir.addressof @padded : !llvm.ptr<3>
// CHECK:           builtin.unrealized_conversion_cast %{{.*}} : !llvm.ptr<3> to memref<4x8xf16, strided<[9, 1]>, 3 : i64>
// CHECK:           func.return
builtin.module attributes {gpu.container_module} {
  func.func @host(%A: memref<64xf32>, %x: f32) -> f32 attributes {tcir.gpu} {
    %e = math.exp %x : f32
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %A) <{kernel = @shared::@reverse, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0>}> : (index, index, index, index, index, index, memref<64xf32>) -> ()
    func.return %e : f32
  }
  "gpu.module"() <{sym_name = "shared"}> ({
    "memref.global"() <{sym_name = "tile", type = memref<64xf32, 3 : i64>, initial_value, sym_visibility = "private"}> : () -> ()
    "memref.global"() <{sym_name = "padded", type = memref<4x8xf16, strided<[9, 1]>, 3 : i64>, initial_value, sym_visibility = "private", alignment = 16 : i64}> : () -> ()
    "memref.global"() <{sym_name = "flags", type = memref<4xi1, 3 : i64>, initial_value, sym_visibility = "private"}> : () -> ()
    "gpu.func"() <{function_type = (memref<64xf32>) -> (), kernel}> ({
    ^bb0(%A: memref<64xf32>):
      %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %s = memref.get_global @tile : memref<64xf32, 3 : i64>
      %v = memref.load %A[%tx] : memref<64xf32>
      memref.store %v, %s[%tx] : memref<64xf32, 3 : i64>
      "gpu.barrier"() : () -> ()
      %c63 = arith.constant 63 : index
      %r = arith.subi %c63, %tx : index
      %w = memref.load %s[%r] : memref<64xf32, 3 : i64>
      memref.store %w, %A[%tx] : memref<64xf32>
      %p = memref.get_global @padded : memref<4x8xf16, strided<[9, 1]>, 3 : i64>
      %h = memref.load %p[%tx, %tx] : memref<4x8xf16, strided<[9, 1]>, 3 : i64>
      %f = memref.get_global @flags : memref<4xi1, 3 : i64>
      "test.op"(%h, %f) : (f16, memref<4xi1, 3 : i64>) -> ()
      "gpu.return"() : () -> ()
    }) {sym_name = "reverse"} : () -> ()
  }) : () -> ()
}

// -----

// Private memory and scalar arguments need nothing from this pass; a gpu.func that is
// not a kernel becomes a plain func.func, and device functions stay as they are.
// CHECK-LABEL: "gpu.module"() <{sym_name = "private"}>
// CHECK:         func.func @helper(%{{.*}}: f32) -> f32 {
// CHECK:         func.func @square(%{{.*}}: f32) -> f32 {
// CHECK:           func.return %{{.*}} : f32
// CHECK:         func.func @scale(%[[X:.*]]: memref<4xf32>, %[[ALPHA:.*]]: f32, %[[N:.*]]: index) attributes {nvvm.kernel}
// CHECK:           %[[T:.*]] = memref.alloca() : memref<4xf32>
// CHECK:           func.call @helper(%[[ALPHA]]) : (f32) -> f32
// CHECK:           memref.store %{{.*}}, %[[T]][%[[N]]] : memref<4xf32>
"gpu.module"() <{sym_name = "private"}> ({
  func.func @helper(%a: f32) -> f32 {
    func.return %a : f32
  }
  "gpu.func"() <{function_type = (f32) -> f32}> ({
  ^bb0(%a: f32):
    %b = arith.mulf %a, %a : f32
    "gpu.return"(%b) : (f32) -> ()
  }) {sym_name = "square"} : () -> ()
  "gpu.func"() <{function_type = (memref<4xf32>, f32, index) -> (), kernel}> ({
  ^bb0(%X: memref<4xf32>, %alpha: f32, %n: index):
    %t = memref.alloca() : memref<4xf32>
    %a2 = func.call @helper(%alpha) : (f32) -> f32
    %c0 = arith.constant 0 : index
    %v = memref.load %X[%c0] : memref<4xf32>
    %w = arith.mulf %v, %a2 : f32
    memref.store %w, %t[%n] : memref<4xf32>
    %u = memref.load %t[%n] : memref<4xf32>
    memref.store %u, %X[%c0] : memref<4xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "scale"} : () -> ()
}) : () -> ()

// -----

// Float math becomes libdevice calls (f16 and bf16 computed in f32), declared once;
// fdivide and integer math are left to convert-math-to-llvm.
// CHECK-LABEL: "gpu.module"() <{sym_name = "math"}>
// CHECK-DAG:     llvm.func @__nv_expf(f32) -> f32
// CHECK-DAG:     llvm.func @__nv_tanh(f64) -> f64
// CHECK-DAG:     llvm.func @__nv_sinf(f32) -> f32
// CHECK-DAG:     llvm.func @__nv_erfinvf(f32) -> f32
// CHECK-DAG:     llvm.func @__nv_powf(f32, f32) -> f32
// CHECK-DAG:     llvm.func @__nv_rint(f64) -> f64
// CHECK-DAG:     llvm.func @__nv_expm1f(f32) -> f32
// CHECK:         func.func @math(%[[X:.*]]: f32, %[[D:.*]]: f64, %[[H:.*]]: f16, %{{.*}}: bf16, %{{.*}}: i32)
// CHECK:           %[[E:.*]] = llvm.call @__nv_expf(%[[X]]) : (f32) -> f32
// CHECK:           llvm.call @__nv_tanh(%[[D]]) : (f64) -> f64
// CHECK:           %[[HW:.*]] = llvm.fpext %[[H]] : f16 to f32
// CHECK:           %[[SW:.*]] = llvm.call @__nv_sinf(%[[HW]]) : (f32) -> f32
// CHECK:           llvm.fptrunc %[[SW]] : f32 to f16
// CHECK:           llvm.call @__nv_erfinvf(%[[X]]) : (f32) -> f32
// CHECK:           llvm.call @__nv_powf(%[[X]], %[[E]]) : (f32, f32) -> f32
// CHECK:           llvm.call @__nv_rint(%[[D]]) : (f64) -> f64
// CHECK:           tc.builtin "fdivide"(%[[X]], %[[E]]) : (f32, f32) -> f32
// CHECK:           llvm.call @__nv_expm1f(%{{.*}}) : (f32) -> f32
// CHECK:           math.absi %{{.*}} : i32
"gpu.module"() <{sym_name = "math"}> ({
  "gpu.func"() <{function_type = (f32, f64, f16, bf16, i32) -> (), kernel}> ({
  ^bb0(%x: f32, %d: f64, %h: f16, %b: bf16, %n: i32):
    %e = math.exp %x : f32
    %t = math.tanh %d : f64
    %s = math.sin %h : f16
    %i = tc.builtin "erfinv"(%x) : (f32) -> f32
    %p = math.powf %x, %e : f32
    %r = math.roundeven %d : f64
    %q = tc.builtin "fdivide"(%x, %e) : (f32, f32) -> f32
    %g = tc.builtin "expm1"(%b) : (bf16) -> bf16
    %a = math.absi %n : i32
    "test.op"(%e, %t, %s, %i, %p, %r, %q, %g, %a) : (f32, f64, f16, f32, f32, f64, f32, bf16, i32) -> ()
    "gpu.return"() : () -> ()
  }) {sym_name = "math"} : () -> ()
}) : () -> ()

// -----

// CHECK: error: convert-gpu-to-nvvm: gpu.global_id is not supported in a kernel
"gpu.module"() <{sym_name = "bad"}> ({
  "gpu.func"() <{function_type = () -> (), kernel}> ({
    %g = "gpu.global_id"() <{dimension = #gpu<dim x>}> : () -> index
    "gpu.return"() : () -> ()
  }) {sym_name = "k"} : () -> ()
}) : () -> ()

// -----

// CHECK: error: convert-gpu-to-nvvm: only shared memory (memory space 3) can be a global of a gpu.module
"gpu.module"() <{sym_name = "bad"}> ({
  "memref.global"() <{sym_name = "g", type = memref<4xf32>, initial_value, sym_visibility = "private"}> : () -> ()
}) : () -> ()

// -----

// CHECK: error: convert-gpu-to-nvvm: shared memory cannot have an initial value
"gpu.module"() <{sym_name = "bad"}> ({
  "memref.global"() <{sym_name = "g", type = memref<2xf32, 3 : i64>, initial_value = dense<1.0> : tensor<2xf32>, sym_visibility = "private"}> : () -> ()
}) : () -> ()

// -----

// Argument attributes go on to the function (llvm.noalias and llvm.readonly let the
// NVPTX backend read through the read-only data cache, ld.global.nc).
// CHECK-LABEL: "gpu.module"() <{sym_name = "attrs"}>
// CHECK:         func.func @copy(%{{.*}}: memref<4xf32> {llvm.noalias, llvm.readonly}, %{{.*}}: memref<4xf32> {llvm.noalias}) attributes {nvvm.kernel}
"gpu.module"() <{sym_name = "attrs"}> ({
  "gpu.func"() <{function_type = (memref<4xf32>, memref<4xf32>) -> (), kernel}> ({
  ^bb0(%in: memref<4xf32>, %out: memref<4xf32>):
    %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %v = memref.load %in[%tx] : memref<4xf32>
    memref.store %v, %out[%tx] : memref<4xf32>
    "gpu.return"() : () -> ()
  }) {sym_name = "copy", arg_attrs = [{llvm.noalias, llvm.readonly}, {llvm.noalias}]} : () -> ()
}) : () -> ()
