// RUN: tc-opt %s -p convert-memref-to-llvm | filecheck %s
// RUN: tc-opt %s -p 'convert-memref-to-llvm{stack_limit=0 alignment=32}' | filecheck %s --check-prefix=HEAP

// Error cases are in tests/backends/test_cpu_backend.py (test_pass_errors).

// The declarations of the C allocator come first in the module.
// CHECK:     llvm.func @free(!llvm.ptr)
// CHECK:     llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr

// Subscripts are linearized with the static strides and offset of the layout.
// CHECK-LABEL: func.func @strided_load(
// CHECK-SAME:      %[[A:.*]]: !llvm.ptr, %[[I:.*]]: index, %[[J:.*]]: index) -> f32
// CHECK-DAG:     %[[J64:.*]] = builtin.unrealized_conversion_cast %[[J]] : index to i64
// CHECK-DAG:     %[[I64:.*]] = builtin.unrealized_conversion_cast %[[I]] : index to i64
// CHECK:         %[[S1:.*]] = llvm.mlir.constant(4) : i64
// CHECK:         %[[JS:.*]] = llvm.mul %[[J64]], %[[S1]] overflow<nsw> : i64
// CHECK:         %[[SUM:.*]] = llvm.add %[[I64]], %[[JS]] overflow<nsw> : i64
// CHECK:         %[[OFF:.*]] = llvm.mlir.constant(3) : i64
// CHECK:         %[[LIN:.*]] = llvm.add %[[SUM]], %[[OFF]] overflow<nsw> : i64
// CHECK:         %[[P:.*]] = llvm.getelementptr inbounds %[[A]][%[[LIN]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
// CHECK:         %[[V:.*]] = llvm.load %[[P]] : !llvm.ptr -> f32
// CHECK:         func.return %[[V]] : f32
func.func @strided_load(%A: memref<4x8xf32, strided<[1, 4], offset: 3>>, %i: index, %j: index) -> f32 {
  %v = memref.load %A[%i, %j] : memref<4x8xf32, strided<[1, 4], offset: 3>>
  func.return %v : f32
}

// i1 lives in memory as i8 (NumPy's bool); index as i64.
// CHECK-LABEL: func.func @bool_and_index(
// CHECK-SAME:      %[[B:.*]]: !llvm.ptr, %[[X:.*]]: !llvm.ptr, %[[I:.*]]: index) -> index
// CHECK:         %[[I64:.*]] = builtin.unrealized_conversion_cast %[[I]] : index to i64
// CHECK:         %[[P:.*]] = llvm.getelementptr inbounds %[[B]][%[[I64]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:         %[[BYTE:.*]] = llvm.load %[[P]] : !llvm.ptr -> i8
// CHECK:         %[[ZERO:.*]] = llvm.mlir.constant(0 : i8) : i8
// CHECK:         %[[BIT:.*]] = llvm.icmp "ne" %[[BYTE]], %[[ZERO]] : i8
// CHECK:         %[[Q:.*]] = llvm.getelementptr inbounds %[[B]][%[[I64]]] : (!llvm.ptr, i64) -> !llvm.ptr, i8
// CHECK:         %[[EXT:.*]] = llvm.zext %[[BIT]] : i1 to i8
// CHECK:         llvm.store %[[EXT]], %[[Q]] : i8, !llvm.ptr
// CHECK:         %[[R:.*]] = llvm.getelementptr inbounds %[[X]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i64
// CHECK:         %[[W:.*]] = llvm.load %[[R]] : !llvm.ptr -> i64
// CHECK:         %[[WI:.*]] = builtin.unrealized_conversion_cast %[[W]] : i64 to index
// CHECK:         llvm.store %[[I64]], %{{.*}} : i64, !llvm.ptr
// CHECK:         func.return %[[WI]] : index
func.func @bool_and_index(%B: memref<16xi1>, %X: memref<2x2xindex>, %i: index) -> index {
  %b = memref.load %B[%i] : memref<16xi1>
  memref.store %b, %B[%i] : memref<16xi1>
  %x = memref.load %X[%i, %i] : memref<2x2xindex>
  memref.store %i, %X[%i, %i] : memref<2x2xindex>
  func.return %x : index
}

// bf16 travels as its i16 bits (llvm_common.llvm_type), bridged by casts.
// CHECK-LABEL: func.func @narrow_floats(
// CHECK-SAME:      %[[H:.*]]: !llvm.ptr, %[[G:.*]]: !llvm.ptr, %[[I:.*]]: index, %[[B:.*]]: bf16) -> bf16
// CHECK-DAG:     %[[BBITS:.*]] = builtin.unrealized_conversion_cast %[[B]] : bf16 to i16
// CHECK-DAG:     %[[I64:.*]] = builtin.unrealized_conversion_cast %[[I]] : index to i64
// CHECK:         %[[P:.*]] = llvm.getelementptr inbounds %[[H]][%[[I64]]] : (!llvm.ptr, i64) -> !llvm.ptr, f16
// CHECK:         %[[X:.*]] = llvm.load %[[P]] : !llvm.ptr -> f16
// CHECK:         %[[Q:.*]] = llvm.getelementptr inbounds %[[G]][%[[I64]]] : (!llvm.ptr, i64) -> !llvm.ptr, i16
// CHECK:         %[[BITS:.*]] = llvm.load %[[Q]] : !llvm.ptr -> i16
// CHECK:         %[[Y:.*]] = builtin.unrealized_conversion_cast %[[BITS]] : i16 to bf16
// CHECK:         llvm.store %[[X]], %{{.*}} : f16, !llvm.ptr
// CHECK:         llvm.store %[[BBITS]], %{{.*}} : i16, !llvm.ptr
// CHECK:         func.return %[[Y]] : bf16
func.func @narrow_floats(%H: memref<8xf16>, %G: memref<8xbf16>, %i: index, %b: bf16) -> bf16 {
  %h = memref.load %H[%i] : memref<8xf16>
  %g = memref.load %G[%i] : memref<8xbf16>
  memref.store %h, %H[%i] : memref<8xf16>
  memref.store %b, %G[%i] : memref<8xbf16>
  func.return %g : bf16
}

// A 0-d memref at offset 0 is its pointer.
// CHECK-LABEL: func.func @zero_d(
// CHECK-SAME:      %[[S:.*]]: !llvm.ptr) -> f64
// CHECK-NEXT:    %[[V:.*]] = llvm.load %[[S]] : !llvm.ptr -> f64
// CHECK-NEXT:    func.return %[[V]] : f64
func.func @zero_d(%S: memref<f64>) -> f64 {
  %s = memref.load %S[] : memref<f64>
  func.return %s : f64
}

// A small allocation moves to the entry block's stack; its dealloc disappears.
// CHECK-LABEL: func.func @small_temporary(
// CHECK:         %[[N:.*]] = llvm.mlir.constant(16) : i64
// CHECK:         %[[T:.*]] = llvm.alloca %[[N]] x f32 {alignment = 64 : i64} : (i64) -> !llvm.ptr
// CHECK:         cf.br ^[[BB:.*]]
// CHECK:       ^[[BB]]:
// CHECK:         llvm.getelementptr inbounds %[[T]]
// CHECK-NOT:     free
// CHECK:         func.return
// HEAP-LABEL:  func.func @small_temporary(
// HEAP:          %[[A:.*]] = llvm.mlir.constant(32) : i64
// HEAP:          %[[S:.*]] = llvm.mlir.constant(64) : i64
// HEAP:          %[[T:.*]] = llvm.call @aligned_alloc(%[[A]], %[[S]]) : (i64, i64) -> !llvm.ptr
// HEAP:          llvm.call @free(%[[T]]) : (!llvm.ptr) -> ()
func.func @small_temporary(%n: index) -> f32 {
  cf.br ^body
^body:
  %t = memref.alloc() : memref<4x4xf32>
  %v = memref.load %t[%n, %n] : memref<4x4xf32>
  memref.dealloc %t : memref<4x4xf32>
  func.return %v : f32
}

// A large one calls aligned_alloc with the size rounded up to the alignment.
// CHECK-LABEL: func.func @large_temporary(
// CHECK:         %[[A:.*]] = llvm.mlir.constant(128) : i64
// CHECK:         %[[S:.*]] = llvm.mlir.constant(40064) : i64
// CHECK:         %[[T:.*]] = llvm.call @aligned_alloc(%[[A]], %[[S]]) : (i64, i64) -> !llvm.ptr
// CHECK:         llvm.getelementptr inbounds %[[T]]
// CHECK:         llvm.call @free(%[[T]]) : (!llvm.ptr) -> ()
func.func @large_temporary(%i: index) -> f32 {
  %t = memref.alloc() {alignment = 128 : i64} : memref<100x100xf32>
  %v = memref.load %t[%i, %i] : memref<100x100xf32>
  memref.dealloc %t : memref<100x100xf32>
  func.return %v : f32
}

// CHECK-LABEL: func.func @alloca_in_place(
// CHECK:         %[[N:.*]] = llvm.mlir.constant(3) : i64
// CHECK:         %[[T:.*]] = llvm.alloca %[[N]] x i8 : (i64) -> !llvm.ptr
// CHECK:         llvm.getelementptr inbounds %[[T]][%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
func.func @alloca_in_place(%i: index) -> i8 {
  %t = memref.alloca() : memref<3xi8>
  %v = memref.load %t[%i] : memref<3xi8>
  func.return %v : i8
}

// Views keep the base pointer; the result layout places the elements.
// CHECK-LABEL: func.func @views(
// CHECK-SAME:      %[[A:.*]]: !llvm.ptr, %[[I:.*]]: index) -> f32
// CHECK:         llvm.mlir.constant(20) : i64
// CHECK:         llvm.mlir.constant(2) : i64
// CHECK:         %[[OFF:.*]] = llvm.mlir.constant(12) : i64
// CHECK:         %[[LIN:.*]] = llvm.add %{{.*}}, %[[OFF]] overflow<nsw> : i64
// CHECK:         llvm.getelementptr inbounds %[[A]][%[[LIN]]] : (!llvm.ptr, i64) -> !llvm.ptr, f32
func.func @views(%A: memref<8x10xf32>, %i: index) -> f32 {
  %s = memref.subview %A[1, 2] [3, 4] [2, 2] : memref<8x10xf32> to memref<3x4xf32, strided<[20, 2], offset: 12>>
  %c = "memref.cast"(%s) : (memref<3x4xf32, strided<[20, 2], offset: 12>>) -> memref<?x4xf32, strided<[20, 2], offset: 12>>
  %v = memref.load %c[%i, %i] : memref<?x4xf32, strided<[20, 2], offset: 12>>
  func.return %v : f32
}

// Signatures, calls and block arguments carry pointers, in the memref's memory space.
// CHECK-LABEL: func.func private @callee(!llvm.ptr<3>) -> !llvm.ptr<3>
// CHECK-LABEL: func.func @signatures(
// CHECK-SAME:      %[[W:.*]]: !llvm.ptr<3>, %{{.*}}: index) -> f32
// CHECK:         %[[R:.*]] = func.call @callee(%[[W]]) : (!llvm.ptr<3>) -> !llvm.ptr<3>
// CHECK:         cf.br ^[[BB:.*]](%[[R]] : !llvm.ptr<3>)
// CHECK:       ^[[BB]](%[[P:.*]]: !llvm.ptr<3>):
// CHECK:         llvm.getelementptr inbounds %[[P]][%{{.*}}] : (!llvm.ptr<3>, i64) -> !llvm.ptr<3>, f32
func.func private @callee(memref<4xf32, 3>) -> memref<4xf32, 3>
func.func @signatures(%W: memref<4xf32, 3>, %i: index) -> f32 {
  %r = func.call @callee(%W) : (memref<4xf32, 3>) -> memref<4xf32, 3>
  cf.br ^next(%r : memref<4xf32, 3>)
^next(%p: memref<4xf32, 3>):
  %v = memref.load %p[%i] : memref<4xf32, 3>
  func.return %v : f32
}
