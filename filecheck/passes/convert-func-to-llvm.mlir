// RUN: tc-opt %s -p convert-func-to-llvm | filecheck %s
// RUN: tc-opt %s -p convert-arith-to-llvm,convert-math-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts | filecheck %s --check-prefix=ALL

// Declarations become external llvm.func declarations.
// CHECK:       llvm.func @expf(f32) -> f32
// CHECK-NEXT:  llvm.func @sink(i64, !llvm.ptr)

// Bare-pointer ABI: a memref already lowered to !llvm.ptr stays a pointer, argument
// attributes are kept; index arguments are i64.
// CHECK-LABEL: llvm.func @kernel
// CHECK-SAME:    (%[[P:.*]]: !llvm.ptr {llvm.noalias}, %[[N:.*]]: i64, %[[X:.*]]: f32) -> f32
// CHECK-SAME:    attributes {tc.entry}
// CHECK-NEXT:    llvm.call @sink(%[[N]], %[[P]]) : (i64, !llvm.ptr) -> ()
// CHECK-NEXT:    %[[E:.*]] = llvm.call @expf(%[[X]]) : (f32) -> f32
// CHECK-NEXT:    llvm.return %[[E]] : f32
// ALL-LABEL:   llvm.func @kernel
// ALL-SAME:      (%[[P:.*]]: !llvm.ptr {llvm.noalias}, %[[N:.*]]: i64, %[[X:.*]]: f32) -> f32
// ALL-NEXT:      llvm.call @sink(%[[N]], %[[P]]) : (i64, !llvm.ptr) -> ()
func.func private @expf(f32) -> f32
func.func private @sink(index, !llvm.ptr)
func.func @kernel(%p: !llvm.ptr {llvm.noalias}, %n: index, %x: f32) -> f32 attributes {tc.entry} {
  func.call @sink(%n, %p) : (index, !llvm.ptr) -> ()
  %e = func.call @expf(%x) : (f32) -> f32
  func.return %e : f32
}

// No results: void. bf16 values are i16 (the argument's cast to bf16 and back cancel).
// CHECK-LABEL: llvm.func @void_bf16
// CHECK-SAME:    (%[[B:.*]]: i16)
// CHECK-NEXT:    llvm.call @take_bf16(%[[B]]) : (i16) -> ()
// CHECK-NEXT:    llvm.return
// CHECK-NEXT:  }
// CHECK:       llvm.func @take_bf16(%{{.*}}: i16) {
func.func @void_bf16(%b: bf16) {
  func.call @take_bf16(%b) : (bf16) -> ()
  func.return
}
func.func @take_bf16(%b: bf16) {
  func.return
}

// A call result used by ops not lowered yet is cast back; with every pass the program
// has only llvm ops left.
// CHECK-LABEL: llvm.func @recursive
// CHECK:         %[[F:.*]] = llvm.call @recursive(%{{.*}}) : (i64) -> i64
// CHECK-NEXT:    %[[FI:.*]] = builtin.unrealized_conversion_cast %[[F]] : i64 to index
// CHECK-NEXT:    %[[M:.*]] = arith.muli %{{.*}}, %[[FI]] : index
// ALL-LABEL:   llvm.func @recursive
// ALL-SAME:      (%[[N:.*]]: i64) -> i64
// ALL:           llvm.icmp "sle" %[[N]], %{{.*}} : i64
// ALL-NEXT:      llvm.cond_br
// ALL:           %[[F:.*]] = llvm.call @recursive(%{{.*}}) : (i64) -> i64
// ALL-NEXT:      %[[M:.*]] = llvm.mul %[[N]], %[[F]] : i64
// ALL-NEXT:      llvm.return %[[M]] : i64
// ALL-NOT:       unrealized_conversion_cast
func.func @recursive(%n: index) -> index {
  %c1 = arith.constant 1 : index
  %small = arith.cmpi sle, %n, %c1 : index
  cf.cond_br %small, ^base, ^rec
^base:
  func.return %c1 : index
^rec:
  %m = arith.subi %n, %c1 : index
  %f = func.call @recursive(%m) : (index) -> index
  %r = arith.muli %n, %f : index
  func.return %r : index
}
