// RUN: tc-opt %s -p convert-cf-to-llvm | filecheck %s

// CHECK:       llvm.func @abort()

// Successor operands and block arguments get llvm types (index -> i64); old uses of
// a block argument go through a cast until their users are lowered.
// CHECK-LABEL: func.func @loop
// CHECK-SAME:    (%[[N:.*]]: index)
// CHECK:         %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[C0I:.*]] = builtin.unrealized_conversion_cast %[[C0]] : index to i64
// CHECK-NEXT:    llvm.br ^[[HEAD:.*]](%[[C0I]] : i64)
// CHECK-NEXT:  ^[[HEAD]](%[[I64:.*]]: i64):
// CHECK-NEXT:    %[[I:.*]] = builtin.unrealized_conversion_cast %[[I64]] : i64 to index
// CHECK-NEXT:    %[[MORE:.*]] = arith.cmpi slt, %[[I]], %[[N]] : index
// CHECK-NEXT:    llvm.cond_br %[[MORE]], ^[[BODY:.*]], ^[[EXIT:.*]]
// CHECK-NEXT:  ^[[BODY]]:
// CHECK:         %[[NEXT:.*]] = arith.addi %[[I]], %{{.*}} : index
// CHECK-NEXT:    %[[NEXTI:.*]] = builtin.unrealized_conversion_cast %[[NEXT]] : index to i64
// CHECK-NEXT:    llvm.br ^[[HEAD]](%[[NEXTI]] : i64)
// CHECK-NEXT:  ^[[EXIT]]:
// CHECK-NEXT:    func.return
func.func @loop(%n: index) {
  %c0 = arith.constant 0 : index
  cf.br ^head(%c0 : index)
^head(%i: index):
  %more = arith.cmpi slt, %i, %n : index
  cf.cond_br %more, ^body, ^exit
^body:
  %c1 = arith.constant 1 : index
  %next = arith.addi %i, %c1 : index
  cf.br ^head(%next : index)
^exit:
  func.return
}

// Arguments of both successors; f32 and i1 need no cast.
// CHECK-LABEL: func.func @diamond
// CHECK-SAME:    (%[[C:.*]]: i1, %[[X:.*]]: f32, %[[Y:.*]]: f32)
// CHECK-NEXT:    llvm.cond_br %[[C]], ^[[JOIN:.*]](%[[X]] : f32), ^[[JOIN]](%[[Y]] : f32)
// CHECK-NEXT:  ^[[JOIN]](%[[V:.*]]: f32):
// CHECK-NEXT:    func.return %[[V]] : f32
func.func @diamond(%c: i1, %x: f32, %y: f32) -> f32 {
  cf.cond_br %c, ^join(%x : f32), ^join(%y : f32)
^join(%v: f32):
  func.return %v : f32
}

// cf.switch becomes a chain of comparisons, the last one falling to the default.
// CHECK-LABEL: func.func @switch
// CHECK-SAME:    (%[[F:.*]]: i32, %[[X:.*]]: f32)
// CHECK-NEXT:    %[[ONE:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK-NEXT:    %[[IS1:.*]] = llvm.icmp "eq" %[[F]], %[[ONE]] : i32
// CHECK-NEXT:    llvm.cond_br %[[IS1]], ^[[A:.*]](%[[X]] : f32), ^[[NEXT:.*]]
// CHECK-NEXT:  ^[[NEXT]]:
// CHECK-NEXT:    %[[FIVE:.*]] = llvm.mlir.constant(5 : i32) : i32
// CHECK-NEXT:    %[[IS5:.*]] = llvm.icmp "eq" %[[F]], %[[FIVE]] : i32
// CHECK-NEXT:    llvm.cond_br %[[IS5]], ^[[B:.*]], ^[[DEFAULT:.*]]
func.func @switch(%flag: i32, %x: f32) -> f32 {
  cf.switch %flag : i32, [
    default: ^default,
    1: ^a(%x : f32),
    5: ^b
  ]
^a(%v: f32):
  func.return %v : f32
^b:
  %c = arith.constant 1.0 : f32
  func.return %c : f32
^default:
  %d = arith.constant 0.0 : f32
  func.return %d : f32
}

// A switch without cases is a branch to the default.
// CHECK-LABEL: func.func @switch_default_only
// CHECK-NEXT:    llvm.br ^[[D:.*]]
// CHECK-NEXT:  ^[[D]]:
func.func @switch_default_only(%flag: i32) {
  cf.switch %flag : i32, [
    default: ^d
  ]
^d:
  func.return
}

// cf.assert: branch to the rest of the block, or to abort() (declared first thing in
// the module, checked at the top of this file).
// CHECK-LABEL: func.func @assert
// CHECK-SAME:    (%[[C:.*]]: i1, %[[X:.*]]: f32)
// CHECK-NEXT:    llvm.cond_br %[[C]], ^[[OK:.*]], ^[[FAIL:.*]]
// CHECK-NEXT:  ^[[FAIL]]:
// CHECK-NEXT:    llvm.call @abort() : () -> ()
// CHECK-NEXT:    llvm.unreachable
// CHECK-NEXT:  ^[[OK]]:
// CHECK-NEXT:    func.return %[[X]] : f32
func.func @assert(%c: i1, %x: f32) -> f32 {
  cf.assert %c, "x must be positive"
  func.return %x : f32
}
