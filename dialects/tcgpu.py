"""The ``tcgpu`` dialect: asynchronous copies from global to shared memory.

MLIR's ``gpu`` dialect has no asynchronous copy; ``nvgpu.device_async_copy`` has one,
but ties copies to groups through SSA tokens, which cannot leave the ``scf.if`` that
guards a partial tile's copy. These ops follow PTX's own model (``cp.async``,
``cp.async.commit_group``, ``cp.async.wait_group``, sm_80 and later) on memrefs, with
no tokens: each thread's copies join an implicit open group, which the thread commits
and later waits for. The gpu stage (``convert-tc-to-gpu`` with ``pipelineShared``) fills
double-buffered shared memory with them; ``convert-gpu-to-nvvm`` lowers them to PTX, and
the gpu-stage emulator runs them (tcir/testing/gpu_emulator.py).

Ops
---
``tcgpu.async_copy %src[%i, %j], %dst[%k, %l], 4 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>``
    Starts copying ``elements`` consecutive elements (along the innermost dimension) of
    ``src`` (global memory) from ``src[i, j]`` to ``dst[k, l]`` in shared memory (memory
    space 3), and adds the copy to the thread's open group. The destination must not be
    read before the thread has waited for the group (``tcgpu.async_wait``) and, for
    other threads, a ``gpu.barrier`` after that. ``elements`` times the element's size
    is 4, 8 or 16 bytes (what ``cp.async`` moves), both addresses are aligned to that
    many bytes (the emitter's contract: the verifier cannot see addresses), and the
    innermost dimension of both memrefs has stride 1 when ``elements`` > 1.
``tcgpu.async_commit``
    Closes the thread's open group (an empty one too): the copies started since the
    last commit form a group, the most recent one.
``tcgpu.async_wait 1``
    Waits until at most ``pending`` of the thread's committed groups, the most recent
    ones, are still in flight: the copies of every older group are then in shared
    memory. Copies not yet committed are not waited for.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64, AnyFloat, IndexType, IntegerAttr, IntegerType, MemRefType, i64,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments, IRDLOperation, irdl_op_definition, operand_def, prop_def, var_operand_def,
)
from xdsl.utils.exceptions import VerifyException

from tcir.dialects.lowp import LowpType

__all__ = ["ASYNC_COPY_BYTES", "AsyncCommitOp", "AsyncCopyOp", "AsyncWaitOp", "TCGPU", "element_size"]

SHARED_SPACE = 3
# the sizes in bytes that one cp.async moves
ASYNC_COPY_BYTES = (4, 8, 16)


def element_size(t: Attribute) -> int | None:
    """Bytes an element of type `t` takes in memory (a format: its storage integer), or
    None for a type without a fixed size."""
    if isinstance(t, LowpType):
        return t.storage_width // 8
    if isinstance(t, IndexType):
        return 8
    if isinstance(t, IntegerType | AnyFloat):
        return max(1, t.bitwidth // 8)
    return None


def _space(t: MemRefType) -> int:
    space = t.memory_space
    return space.value.data if isinstance(space, IntegerAttr) else 0


@irdl_op_definition
class AsyncCopyOp(IRDLOperation):
    """See the module docstring."""

    name = "tcgpu.async_copy"

    source = operand_def(MemRefType)
    source_indices = var_operand_def(IndexType)
    dest = operand_def(MemRefType)
    dest_indices = var_operand_def(IndexType)
    elements = prop_def(IntegerAttr[I64])

    irdl_options = (AttrSizedOperandSegments(as_property=True),)
    assembly_format = ("$source `[` $source_indices `]` `,` $dest `[` $dest_indices `]` `,` $elements "
                       "attr-dict `:` type($source) `to` type($dest)")

    def __init__(self, source: SSAValue | Operation, source_indices: Sequence[SSAValue | Operation],
                 dest: SSAValue | Operation, dest_indices: Sequence[SSAValue | Operation], elements: int):
        super().__init__(operands=[source, source_indices, dest, dest_indices],
                         properties={"elements": IntegerAttr(elements, i64)})

    def verify_(self) -> None:
        src, dst = self.source.type, self.dest.type
        assert isinstance(src, MemRefType) and isinstance(dst, MemRefType)
        for what, t, indices in (("source", src, self.source_indices), ("destination", dst, self.dest_indices)):
            if len(indices) != t.get_num_dims():
                raise VerifyException(f"{self.name}: {len(indices)} indices for the {what} {t} of rank "
                                      f"{t.get_num_dims()}")
        if _space(dst) != SHARED_SPACE or _space(src) == SHARED_SPACE:
            raise VerifyException(f"{self.name} copies from global memory to shared memory (memory space 3), "
                                  f"not from {src} to {dst}")
        if src.element_type != dst.element_type:
            raise VerifyException(f"{self.name}: the source's elements are {src.element_type}, the "
                                  f"destination's {dst.element_type}")
        n, size = self.elements.value.data, element_size(src.element_type)
        if size is None or n < 1 or n * size not in ASYNC_COPY_BYTES:
            raise VerifyException(f"{self.name} moves 4, 8 or 16 bytes: {n} elements of {src.element_type}")
        for t in (src, dst):
            strides = t.get_strides()
            if n > 1 and (not strides or strides[-1] != 1):
                raise VerifyException(f"{self.name} of {n} elements needs a contiguous innermost dimension in {t}")


@irdl_op_definition
class AsyncCommitOp(IRDLOperation):
    """See the module docstring."""

    name = "tcgpu.async_commit"

    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


@irdl_op_definition
class AsyncWaitOp(IRDLOperation):
    """See the module docstring."""

    name = "tcgpu.async_wait"

    pending = prop_def(IntegerAttr[I64])

    assembly_format = "$pending attr-dict"

    def __init__(self, pending: int):
        super().__init__(properties={"pending": IntegerAttr(pending, i64)})

    def verify_(self) -> None:
        if self.pending.value.data < 0:
            raise VerifyException(f"{self.name}: {self.pending.value.data} groups cannot stay pending")


TCGPU = Dialect("tcgpu", [AsyncCopyOp, AsyncCommitOp, AsyncWaitOp], [])
