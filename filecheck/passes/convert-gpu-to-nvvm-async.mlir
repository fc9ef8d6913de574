// RUN: tc-opt %s -p convert-gpu-to-nvvm | filecheck %s
// RUN: tc-opt %s -p convert-gpu-to-nvvm,convert-memref-to-llvm | filecheck %s --check-prefix=MEMREF

// Asynchronous copies: element addresses as convert-memref-to-llvm computes them (the
// memref cast to its pointer, a GEP over the linearized index), then inline PTX with
// side effects and a memory clobber. 16 bytes: cp.async.cg (bypasses L1); 8 and 4
// bytes: cp.async.ca. The generic source pointer is converted with cvta.to.global
// inside the asm block; the shared destination is a 64-bit !llvm.ptr<3> ("l").
// CHECK-LABEL: "gpu.module"() <{sym_name = "async"}>
// CHECK:         func.func @copy(%[[A:.*]]: memref<64x64xf32>, %[[H:.*]]: memref<8x8xf16, strided<[32, 1], offset: 4>>)
// CHECK-DAG:       %[[AP:.*]] = builtin.unrealized_conversion_cast %[[A]] : memref<64x64xf32> to !llvm.ptr
// CHECK-DAG:       %[[HP:.*]] = builtin.unrealized_conversion_cast %[[H]] : memref<8x8xf16, strided<[32, 1], offset: 4>> to !llvm.ptr
// CHECK:           llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.y"
// CHECK-NEXT:      %[[TY:.*]] = llvm.zext %{{.*}} : i32 to i64
// CHECK:           %[[J:.*]] = builtin.unrealized_conversion_cast %j : index to i64
// CHECK:           %[[SP:.*]] = llvm.mlir.addressof @tiles : !llvm.ptr<3>
// CHECK:           %[[S:.*]] = builtin.unrealized_conversion_cast %[[SP]] : !llvm.ptr<3> to memref<2x16x16xf32, 3 : i64>
// CHECK:           %[[SPTR:.*]] = builtin.unrealized_conversion_cast %[[S]] : memref<2x16x16xf32, 3 : i64> to !llvm.ptr<3>
// A[ty, j]: ty * 64 + j
// CHECK:           %[[C64:.*]] = llvm.mlir.constant(64) : i64
// CHECK:           %[[R:.*]] = llvm.mul %[[TY]], %[[C64]] overflow<nsw> : i64
// CHECK:           %[[LA:.*]] = llvm.add %[[R]], %[[J]] overflow<nsw> : i64
// CHECK:           %[[SRC:.*]] = llvm.getelementptr inbounds %[[AP]][%[[LA]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// s[0, ty, j]: 0 * 256 + ty * 16 + j
// CHECK:           llvm.mlir.constant(256) : i64
// CHECK:           %[[DST:.*]] = llvm.getelementptr inbounds %[[SPTR]][%{{.*}}] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f32
// CHECK:           llvm.inline_asm has_side_effects "{ .reg .u64 g; cvta.to.global.u64 g, $1; cp.async.cg.shared.global [$0], [g], 16; }", "l,l,~{memory}" %[[DST]], %[[SRC]] : (!llvm.ptr<3>, !llvm.ptr) -> ()
// CHECK:           llvm.inline_asm has_side_effects "cp.async.commit_group;", "~{memory}" : () -> ()
// H[ty, j]: 4 + ty * 32 + j, into the f16 view of the same shared buffer
// CHECK:           llvm.mlir.addressof @halves : !llvm.ptr<3>
// CHECK:           llvm.mlir.constant(32) : i64
// CHECK:           llvm.mlir.constant(4) : i64
// CHECK:           %[[HSRC:.*]] = llvm.getelementptr inbounds %[[HP]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f16
// CHECK:           %[[HDST:.*]] = llvm.getelementptr inbounds %{{.*}}[%{{.*}}] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f16
// CHECK:           llvm.inline_asm has_side_effects "{ .reg .u64 g; cvta.to.global.u64 g, $1; cp.async.ca.shared.global [$0], [g], 8; }", "l,l,~{memory}" %[[HDST]], %[[HSRC]] : (!llvm.ptr<3>, !llvm.ptr) -> ()
// CHECK:           %[[ONE:.*]] = llvm.getelementptr inbounds %[[AP]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:           %[[ONED:.*]] = llvm.getelementptr inbounds %[[SPTR]][%{{.*}}] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f32
// CHECK:           llvm.inline_asm has_side_effects "{ .reg .u64 g; cvta.to.global.u64 g, $1; cp.async.ca.shared.global [$0], [g], 4; }", "l,l,~{memory}" %[[ONED]], %[[ONE]] : (!llvm.ptr<3>, !llvm.ptr) -> ()
// CHECK:           llvm.inline_asm has_side_effects "cp.async.commit_group;", "~{memory}" : () -> ()
// CHECK:           llvm.inline_asm has_side_effects "cp.async.wait_group 1;", "~{memory}" : () -> ()
// CHECK:           llvm.call_intrinsic "llvm.nvvm.barrier.cta.sync.aligned.all"
// CHECK:           memref.load %[[S]]
// CHECK:           llvm.inline_asm has_side_effects "cp.async.wait_group 0;", "~{memory}" : () -> ()
// CHECK:           func.return
// CHECK-NOT:     tcgpu.

// After convert-memref-to-llvm, the casts of the memrefs to pointers are gone: the asm
// takes the GEPs over the kernel argument and the shared global.
// MEMREF:        func.func @copy(%[[A:.*]]: !llvm.ptr, %{{.*}}: !llvm.ptr)
// MEMREF-NOT:      builtin.unrealized_conversion_cast %{{.*}} : memref
// MEMREF-NOT:      builtin.unrealized_conversion_cast %{{.*}} : !llvm.ptr
// MEMREF:          %[[S:.*]] = llvm.mlir.addressof @tiles : !llvm.ptr<3>
// MEMREF:          %[[SRC:.*]] = llvm.getelementptr inbounds %[[A]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// MEMREF:          %[[DST:.*]] = llvm.getelementptr inbounds %[[S]][%{{.*}}] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f32
// MEMREF:          llvm.inline_asm has_side_effects "{{.*}}cp.async.cg.shared.global [$0], [g], 16; }", "l,l,~{memory}" %[[DST]], %[[SRC]] : (!llvm.ptr<3>, !llvm.ptr) -> ()
// MEMREF-NOT:      builtin.unrealized_conversion_cast %{{.*}} : memref
// MEMREF-NOT:      builtin.unrealized_conversion_cast %{{.*}} : !llvm.ptr
"gpu.module"() <{sym_name = "async"}> ({
  "memref.global"() <{sym_name = "tiles", type = memref<2x16x16xf32, 3 : i64>, initial_value, sym_visibility = "private", alignment = 16 : i64}> : () -> ()
  "memref.global"() <{sym_name = "halves", type = memref<16x16xf16, 3 : i64>, initial_value, sym_visibility = "private", alignment = 16 : i64}> : () -> ()
  "gpu.func"() <{function_type = (memref<64x64xf32>, memref<8x8xf16, strided<[32, 1], offset: 4>>) -> (), kernel}> ({
  ^bb0(%A: memref<64x64xf32>, %H: memref<8x8xf16, strided<[32, 1], offset: 4>>):
    %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
    %ty = "gpu.thread_id"() <{dimension = #gpu<dim y>}> : () -> index
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %j = arith.muli %tx, %c4 : index
    %s = memref.get_global @tiles : memref<2x16x16xf32, 3 : i64>
    tcgpu.async_copy %A[%ty, %j], %s[%c0, %ty, %j], 4 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
    tcgpu.async_commit
    %h = memref.get_global @halves : memref<16x16xf16, 3 : i64>
    tcgpu.async_copy %H[%ty, %j], %h[%ty, %j], 4 : memref<8x8xf16, strided<[32, 1], offset: 4>> to memref<16x16xf16, 3 : i64>
    tcgpu.async_copy %A[%ty, %tx], %s[%c1, %ty, %tx], 1 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
    tcgpu.async_commit
    tcgpu.async_wait 1
    "gpu.barrier"() : () -> ()
    %v = memref.load %s[%c0, %ty, %tx] : memref<2x16x16xf32, 3 : i64>
    tcgpu.async_wait 0
    "test.op"(%v) : (f32) -> ()
    "gpu.return"() : () -> ()
  }) {sym_name = "copy", gpu.known_block_size = array<i32: 4, 16, 1>} : () -> ()
}) : () -> ()
