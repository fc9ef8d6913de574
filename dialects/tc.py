"""The ``tc`` dialect: Tensor Comprehensions as MLIR-style IR.

One ``tc.def`` per TC def and one ``tc.stmt`` per TC statement. A statement keeps TC's
structure: its iteration domain (one half-open range per iterator, with symbolic size
expressions as bounds), its write access (an affine map from the iterators to the
target's subscripts), its reduction kind, and a scalar body region computing the value
to store. Reads in the body are ``tc.read`` ops: affine maps over ``index`` values
(iterators, ``tc.size`` results, or computed values for indirect subscripts such as
``LUT(I(b, r), d)``). The body may hold any arith/math/scf ops; ``c ? a : b`` is an
``scf.if``, so reads can sit in nested regions.

Attributes and types
--------------------
``#tc.size<(H - 2) floordiv 2 + 1>``
    ``SizeExprAttr``: a ``tcir.sizeexpr.SizeExpr`` (integers, size names, ``+ - *``,
    ``floordiv ceildiv mod``, ``min(a, b)``, ``max(a, b)``, parentheses, unary minus).
    Constants beyond int64 and divisions by a constant 0 are invalid; the rest is
    checked once the sizes are known (``tcir.passes.tc_lowering.check_accesses``).
``!tc.tensor<[M, 4, (H - 2) floordiv 2 + 1], f32>``
    ``TensorType``: a symbolic shape and an element type among ``ELEMENT_TYPES``
    (``i8``..``i64`` are TC's signed integers, ``ui8``..``ui64`` the unsigned ones)
    or a ``lowp`` type (``!tc.tensor<[M, K], !lowp.float<e4m3, fn>>``: a number format
    of ``tcir.lowp``, ``is_element_type``). Rank 0 is ``!tc.tensor<[], f32>``.

Operations
----------
``tc.def @f(%A : !tc.tensor<..>, %alpha : f32) -> (%C : ..) temporaries(%T : ..) {..}``
    Block arguments are the inputs (tensors or scalar parameters), the outputs, then the
    temporaries; properties ``sym_name``, ``num_inputs``, ``num_outputs``. The body
    holds only ``tc.stmt`` ops. The sizes of a def are the size names among the input
    dimensions, in order of first appearance (``size_names()``).
``tc.stmt (%i in LO to HI, ...) %T[<affine subscripts of iterators>] ASSIGN {..}``
    ASSIGN is ``=``, ``+=``, ``*=``, ``min=`` or ``max=``, with a trailing ``!`` to first
    set the target to the operator's identity (property ``init``). Properties ``kind``
    (``=``, ``+``, ``*``, ``min``, ``max``), ``init``, ``write_map``, ``lower_bounds``,
    ``upper_bounds``. The body's block arguments are the iterators (``index``); it ends
    with ``tc.yield``. Iterators missing from the write map are reduction iterators.
    A **scatter-add** (TC's ``T(I(b), d) += ...``) writes at indices its body computes:
    ``%T[at(0), %d] +=`` with ``tc.yield %v at [%e] : f32``; ``at(k)`` is the k-th
    index yielded, dimension ``n + k`` of ``write_map`` after the ``n`` iterators.
    Its kind is ``+`` without ``!`` (verified).
``%v = tc.read %A[2 * %h + %r_kh, %w] : f32``
    Reads an argument of the enclosing def; the result is the element type made
    signless (``ui8`` reads as ``i8``).
``%s = tc.size "N" : index`` (or ``: i32`` when a size is used as a TC value)
``%r = tc.builtin "erfinv"(%x) : (f32) -> f32``
    A TC builtin math function that has no ``math`` dialect op; arguments and result
    share one float type.
``tc.yield %v : f32`` (``tc.yield %v at [%e] : f32`` in a scatter-add)

Example::

    tc.def @matmul(%A : !tc.tensor<[M, K], f32>, %B : !tc.tensor<[K, N], f32>)
        -> (%C : !tc.tensor<[M, N], f32>) {
      tc.stmt (%m in 0 to M, %n in 0 to N, %r_k in 0 to K) %C[%m, %n] +=! {
        %0 = tc.read %A[%m, %r_k] : f32
        %1 = tc.read %B[%r_k, %n] : f32
        %2 = arith.mulf %0, %1 : f32
        tc.yield %2 : f32
      }
    }

Python builders
---------------
``size_attr(x: SizeExpr | int | str | SizeExprAttr) -> SizeExprAttr``
    An ``int`` is a literal size, a ``str`` a size name.
``TensorType(shape: Sequence[SizeExpr | int | str | SizeExprAttr], element_type)``
``DefOp.build_def(name, inputs, outputs, temporaries=()) -> DefOp``
    Each of ``inputs``/``outputs``/``temporaries`` is a sequence of ``(name, type)``;
    the block arguments get the names as hints (xDSL drops a trailing ``_<digits>``
    from hints). The body starts empty: add statements with
    ``def_op.body.block.add_op(stmt)``. Accessors: ``inputs``, ``outputs``,
    ``temporaries`` (block-argument tuples), ``arg(name)``, ``role(arg)``,
    ``size_names()``, ``check_sizes(exprs, what)``.
``StmtOp.create_stmt(target, kind, iterators, write, init=False, yielded=0) -> StmtOp``
    ``kind`` is one of ``KINDS``; ``iterators``: sequence of ``(name, lower, upper)``
    with bounds as in ``size_attr``; ``write``: one subscript per target dimension, an
    iterator name or an ``AffineExpr`` whose dimension ``d<i>`` is iterator ``i`` (or,
    for ``i >= n``, the ``i - n``-th of the ``yielded`` indices of a scatter-add). The
    body block has the iterators as arguments (``stmt.iterators``) and no ops: build
    the scalar computation in it and end with ``YieldOp(value, indices=())``.
    Accessors: ``iterators``, ``reduction_iterators()``, ``is_init``, ``yielded_indices``.
``ReadOp(tensor, indices, map=None, result_type=None)``
    ``map`` (``AffineMap``, dims only) gives the subscripts with ``d<i>`` standing for
    ``indices[i]``; the default is the identity (one index per dimension). Index
    operands are deduplicated and ordered by first use, the canonical form that the
    custom syntax expresses.
``SizeOp(name, result_type=IndexType())``, ``BuiltinOp(fn, args, result_type)``,
``YieldOp(value)``
``signless(element_type)``: the scalar type arith code uses for a TC element type.

The custom syntax's parsing and printing helpers live in ``tcir.dialects.tc_syntax``.

Example::

    f = DefOp.build_def(
        "matmul",
        inputs=[("A", TensorType(["M", "K"], f32)), ("B", TensorType(["K", "N"], f32))],
        outputs=[("C", TensorType(["M", "N"], f32))],
    )
    A, B, C = f.body.block.args
    stmt = StmtOp.create_stmt(C, "+", [("m", 0, "M"), ("n", 0, "N"), ("r_k", 0, "K")],
                              write=["m", "n"], init=True)
    f.body.block.add_op(stmt)
    m, n, r_k = stmt.iterators
    with ImplicitBuilder(stmt.body.block):
        a = ReadOp(A, [m, r_k]).result
        b = ReadOp(B, [r_k, n]).result
        YieldOp(arith.MulfOp(a, b).result)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    AffineMapAttr,
    ArrayAttr,
    ContainerType,
    IndexType,
    IndexTypeConstr,
    IntegerAttr,
    IntegerType,
    Signedness,
    StringAttr,
    SymbolNameConstraint,
    UnitAttr,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import (
    Attribute,
    Block,
    BlockArgument,
    Data,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SSAValue,
    TypeAttribute,
)
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.irdl import (
    EqAttrConstraint,
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    param_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import (
    HasAncestor,
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    MemoryReadEffect,
    NoTerminator,
    Pure,
    SymbolOpInterface,
)
from xdsl.utils.exceptions import VerifyException

from tcir.dialects.tc_syntax import (
    SIZE_NAME,
    assignment_text,
    first_use_order,
    parse_assignment,
    parse_defined_operand,
    parse_size_expr,
    parse_subscripts,
    print_arguments,
    print_subscripts,
)
from tcir.frontend.builtins import ARITY
from tcir.sizeexpr import INT64_MAX, INT64_MIN, BinOp, Const, SizeExpr, Sym, const, sym

__all__ = [
    "ELEMENT_TYPES",
    "KINDS",
    "TC",
    "BuiltinOp",
    "DefOp",
    "ReadOp",
    "SizeExprAttr",
    "SizeOp",
    "StmtOp",
    "TensorType",
    "YieldOp",
    "name_hint",
    "parse_size_expr",
    "is_element_type",
    "signless",
    "size_attr",
    "tc_name",
]

ELEMENT_TYPES: tuple[Attribute, ...] = (
    f16, bf16, f32, f64, i1, i8, i16, i32, i64,
    *(IntegerType(width, Signedness.UNSIGNED) for width in (8, 16, 32, 64)),
)  # fmt: skip
"""Element types of TC tensors, also the types of scalar parameters."""

KINDS: tuple[str, ...] = ("=", "+", "*", "min", "max")
"""Statement kinds: plain assignment, then the reductions."""


_NUMBERED = re.compile(r"(.*)_(\d+)")
_DOTTED = re.compile(r"(.*)\.(\d+)")


def name_hint(name: str) -> str:
    """The SSA name hint of the TC name of a def argument or iterator. xDSL drops a
    trailing `_<digits>` from every hint (its printer's uniquing suffix), which would make
    `X_1` and `X` one tensor for the strides, the polyhedral model and `DefOp.arg`: such
    a name is hinted `X.1` instead (TC names have no dots), and `tc_name` reads it back."""
    numbered = _NUMBERED.fullmatch(name)
    return f"{numbered[1]}.{numbered[2]}" if numbered else name


def tc_name(value: SSAValue) -> str | None:
    """The TC name of a def argument or iterator (see `name_hint`)."""
    hint = value.name_hint
    dotted = _DOTTED.fullmatch(hint) if hint else None
    return f"{dotted[1]}_{dotted[2]}" if dotted else hint


def signless(element_type: Attribute) -> Attribute:
    """The type that scalar code (arith) uses for a TC element type: ui8 -> i8."""
    if isinstance(element_type, IntegerType):
        return IntegerType(element_type.width.data)
    return element_type


def _describe(value: SSAValue) -> str:
    if value.name_hint:
        return f"%{value.name_hint}"
    if isinstance(value, BlockArgument):
        return f"argument #{value.index}"
    return f"a value of type {value.type}"


def _format_sizes(sizes: Sequence[str]) -> str:
    return ", ".join(sizes) if sizes else "none"


_DIVISIONS = (AffineBinaryOpKind.FloorDiv, AffineBinaryOpKind.CeilDiv, AffineBinaryOpKind.Mod)


def _verify_subscripts(map: AffineMap, what: str) -> None:
    """Subscripts are affine in dims only, dividing by positive constants."""
    if map.num_symbols:
        raise VerifyException(f"{what} must not have symbols, got {map}")
    for expr in (e for result in map.results for e in result.dfs()):
        if isinstance(expr, AffineBinaryOpExpr) and expr.kind in _DIVISIONS:
            divisor = expr.rhs
            if not isinstance(divisor, AffineConstantExpr) or divisor.value <= 0:
                raise VerifyException(
                    f"{what} divides by {divisor}; divisors must be positive integers"
                )


# ----------------------------------------------------------------------------------
# Attributes and types
# ----------------------------------------------------------------------------------


@irdl_attr_definition
class SizeExprAttr(Data[SizeExpr]):
    """``#tc.size<expr>``: a symbolic size expression."""

    name = "tc.size"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> SizeExpr:
        with parser.in_angle_brackets():
            return _parse_size(parser)

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(str(self.data))

    def verify(self) -> None:
        if not isinstance(self.data, SizeExpr):
            raise VerifyException(f"#tc.size holds a SizeExpr, got {self.data!r}")
        for name in sorted(self.data.symbols()):
            if not SIZE_NAME.fullmatch(name):
                raise VerifyException(f"#tc.size: size name `{name}` is not a TC identifier")
        if error := _static_error(self.data):
            raise VerifyException(f"#tc.size<{self.data}>: {error}")


def _parse_size(parser: AttrParser) -> SizeExpr:
    """A size expression; what is invalid whatever the sizes is reported here, located,
    rather than by ``SizeExprAttr.verify`` during parsing."""
    start = parser.pos
    expr = parse_size_expr(parser)
    if error := _static_error(expr):
        parser.raise_error(f"invalid size expression: {error}", start, parser.pos)
    return expr


def _static_error(e: SizeExpr) -> str | None:
    """What makes ``e`` invalid whatever the sizes: a constant beyond int64 (the type of
    sizes in the generated code), or ``x floordiv 0``, ``x ceildiv 0``, ``x mod 0``
    (constant operands are folded when an expression is built: a 0 divisor is a Const)."""
    if isinstance(e, Const):
        return None if INT64_MIN <= e.value <= INT64_MAX else f"`{e.value}` is beyond int64"
    if not isinstance(e, BinOp):
        return None
    if e.op in ("floordiv", "ceildiv", "mod") and e.rhs.as_constant() == 0:
        return f"`{e}` divides by zero"
    return _static_error(e.lhs) or _static_error(e.rhs)


SizeLike = SizeExpr | int | str | SizeExprAttr


def size_attr(size: SizeLike) -> SizeExprAttr:
    """A size attribute from an expression, a literal (int) or a size name (str)."""
    if isinstance(size, SizeExprAttr):
        return size
    if isinstance(size, str):
        return SizeExprAttr(sym(size))
    return SizeExprAttr(const(size) if isinstance(size, int) else size)


def _size_array(sizes: Sequence[SizeLike] | ArrayAttr[SizeExprAttr]) -> ArrayAttr[SizeExprAttr]:
    if isinstance(sizes, ArrayAttr):
        return sizes
    return ArrayAttr(size_attr(s) for s in sizes)


def is_element_type(t: Attribute) -> bool:
    """A TC element type: one of ``ELEMENT_TYPES`` or a ``lowp`` dialect type (a number
    format of ``tcir.lowp``)."""
    if t in ELEMENT_TYPES:
        return True
    from tcir.dialects.lowp import is_lowp_type  # lowp imports nothing of tc; lazily all the same

    return is_lowp_type(t)


def _element_type_error(element_type: Attribute) -> str | None:
    if is_element_type(element_type):
        return None
    allowed = ", ".join(str(t) for t in ELEMENT_TYPES)
    return f"!tc.tensor element type must be one of {allowed} or a lowp type, got {element_type}"


@irdl_attr_definition
class TensorType(ParametrizedAttribute, TypeAttribute, ContainerType[Attribute]):
    """``!tc.tensor<[M, N + 1], f32>``: a tensor with a symbolic shape."""

    name = "tc.tensor"

    shape: ArrayAttr[SizeExprAttr] = param_def(converter=_size_array)
    element_type: Attribute

    @property
    def dims(self) -> tuple[SizeExpr, ...]:
        return tuple(d.data for d in self.shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def get_element_type(self) -> Attribute:
        return self.element_type

    def verify(self) -> None:
        if error := _element_type_error(self.element_type):
            raise VerifyException(error)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> tuple[ArrayAttr[SizeExprAttr], Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, lambda: _parse_size(parser), " in a tensor shape"
            )
            parser.parse_punctuation(",", " between the shape and the element type")
            start = parser.pos
            element_type = parser.parse_type()
            # Reported here, with a location, rather than by verify() after parsing.
            if error := _element_type_error(element_type):
                parser.raise_error(error, start, parser.pos)
        return _size_array(dims), element_type

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            with printer.in_square_brackets():
                printer.print_list(self.dims, lambda d: printer.print_string(str(d)))
            printer.print_string(", ")
            printer.print_attribute(self.element_type)


# ----------------------------------------------------------------------------------
# tc.def
# ----------------------------------------------------------------------------------


@irdl_op_definition
class DefOp(IRDLOperation):
    """One TC def: inputs, outputs and temporaries are the body's block arguments."""

    name = "tc.def"

    sym_name = prop_def(SymbolNameConstraint())
    num_inputs = prop_def(IntegerAttr[I64])
    num_outputs = prop_def(IntegerAttr[I64])
    body = region_def("single_block")

    traits = traits_def(SymbolOpInterface(), IsolatedFromAbove(), NoTerminator())

    def __init__(self, sym_name: str, num_inputs: int, num_outputs: int, body: Region):
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "num_inputs": IntegerAttr(num_inputs, i64),
                "num_outputs": IntegerAttr(num_outputs, i64),
            },
            regions=[body],
        )

    @classmethod
    def build_def(
        cls,
        name: str,
        inputs: Sequence[tuple[str, Attribute]],
        outputs: Sequence[tuple[str, Attribute]],
        temporaries: Sequence[tuple[str, Attribute]] = (),
    ) -> DefOp:
        """A def with an empty body whose block arguments carry the given names."""
        params = [*inputs, *outputs, *temporaries]
        block = Block(arg_types=[t for _, t in params])
        for arg, (arg_name, _) in zip(block.args, params, strict=True):
            arg.name_hint = name_hint(arg_name)
        return cls(name, len(inputs), len(outputs), Region(block))

    @property
    def title(self) -> str:
        return f"tc.def @{self.sym_name.data}"

    def _counts(self) -> tuple[int, int]:
        return self.num_inputs.value.data, self.num_outputs.value.data

    @property
    def inputs(self) -> tuple[BlockArgument, ...]:
        return self.body.block.args[: self._counts()[0]]

    @property
    def outputs(self) -> tuple[BlockArgument, ...]:
        n_in, n_out = self._counts()
        return self.body.block.args[n_in : n_in + n_out]

    @property
    def temporaries(self) -> tuple[BlockArgument, ...]:
        return self.body.block.args[sum(self._counts()) :]

    def arg(self, name: str) -> BlockArgument:
        """The block argument named ``name``."""
        for arg in self.body.block.args:
            if tc_name(arg) == name:
                return arg
        raise KeyError(f"{self.title} has no argument %{name}")

    def role(self, arg: BlockArgument) -> str:
        """``input``, ``output`` or ``temporary``."""
        n_in, n_out = self._counts()
        return (
            "input" if arg.index < n_in else "output" if arg.index < n_in + n_out else "temporary"
        )

    def size_names(self) -> tuple[str, ...]:
        """Sizes declared by input tensors, in order of first appearance."""
        names = dict.fromkeys(
            dim.name
            for arg in self.inputs
            if isinstance(arg.type, TensorType)
            for dim in arg.type.dims
            if isinstance(dim, Sym)
        )
        return tuple(names)

    def check_sizes(self, exprs: Sequence[SizeExpr], what: str) -> None:
        """Raise if ``exprs`` use a size that no input declares."""
        sizes = self.size_names()
        for expr in exprs:
            if unknown := sorted(expr.symbols() - set(sizes)):
                raise VerifyException(
                    f"{what} uses size `{unknown[0]}`, which no input of {self.title} "
                    f"declares (sizes: {_format_sizes(sizes)})"
                )

    def verify_(self) -> None:
        n_in, n_out = self._counts()
        n_args = len(self.body.block.args)
        if n_in < 0 or n_out < 0 or n_in + n_out > n_args:
            raise VerifyException(
                f"{self.title} declares {n_in} inputs and {n_out} outputs, but its body "
                f"has {n_args} block arguments"
            )
        for arg in self.inputs:
            self._verify_input(arg)
        for arg in self.body.block.args[n_in:]:
            what = f"{self.role(arg)} {_describe(arg)} of {self.title}"
            if not isinstance(arg.type, TensorType):
                raise VerifyException(f"{what} must be a !tc.tensor, got {arg.type}")
            self.check_sizes(arg.type.dims, what)
        self._verify_statements()

    def _verify_input(self, arg: BlockArgument) -> None:
        what = f"input {_describe(arg)} of {self.title}"
        if not isinstance(arg.type, TensorType):
            if not is_element_type(arg.type):
                raise VerifyException(
                    f"{what} must be a !tc.tensor or a scalar of a TC element type, got {arg.type}"
                )
            return
        for dim in arg.type.dims:
            constant = dim.as_constant()
            if not isinstance(dim, Sym) and (constant is None or constant < 0):
                raise VerifyException(
                    f"{what} has dimension `{dim}`; input dimensions must be size names "
                    "or non-negative integers"
                )

    def _verify_statements(self) -> None:
        written: set[SSAValue] = set()
        for op in self.body.block.ops:
            if not isinstance(op, StmtOp):
                raise VerifyException(f"{self.title} may only contain tc.stmt ops, found {op.name}")
            # operands, not .target: a malformed stmt is reported by its own verifier
            written.update(op.operands)
        for arg in self.body.block.args[self._counts()[0] :]:
            if arg not in written:
                raise VerifyException(
                    f"{self.role(arg)} {_describe(arg)} of {self.title} is never written "
                    "by a tc.stmt"
                )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        print_arguments(printer, self.inputs)
        printer.print_string(" -> ")
        print_arguments(printer, self.outputs)
        if self.temporaries:
            printer.print_string(" temporaries")
            print_arguments(printer, self.temporaries)
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False)

    @classmethod
    def parse(cls, parser: Parser) -> DefOp:
        name = parser.parse_symbol_name().data

        def parse_arguments() -> list[Parser.Argument]:
            return parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_argument)

        inputs = parse_arguments()
        parser.parse_punctuation("->", " before the outputs of a tc.def")
        outputs = parse_arguments()
        temporaries = parse_arguments() if parser.parse_optional_keyword("temporaries") else []
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region([*inputs, *outputs, *temporaries])
        op = cls(name, len(inputs), len(outputs), body)
        if attributes is not None:
            op.attributes |= attributes.data
        return op


# ----------------------------------------------------------------------------------
# tc.stmt
# ----------------------------------------------------------------------------------


def _parse_iterator(parser: Parser) -> tuple[Parser.Argument, SizeExprAttr, SizeExprAttr]:
    iterator = parser.parse_argument(expect_type=False).resolve(IndexType())
    parser.parse_keyword("in", " after a tc.stmt iterator")
    lower = _parse_size(parser)
    parser.parse_keyword("to", " between the bounds of a tc.stmt iterator")
    upper = _parse_size(parser)
    return iterator, SizeExprAttr(lower), SizeExprAttr(upper)


def _write_subscript(subscript: str | AffineExpr, names: Sequence[str]) -> AffineExpr:
    if isinstance(subscript, AffineExpr):
        return subscript
    return AffineExpr.dimension(names.index(subscript))


@irdl_op_definition
class StmtOp(IRDLOperation):
    """One TC statement: domain, write access, kind and scalar body."""

    name = "tc.stmt"

    target = operand_def(TensorType)
    kind = prop_def(StringAttr)
    init = opt_prop_def(UnitAttr)
    write_map = prop_def(AffineMapAttr)
    lower_bounds = prop_def(ArrayAttr[SizeExprAttr])
    upper_bounds = prop_def(ArrayAttr[SizeExprAttr])
    body = region_def("single_block")

    traits = traits_def(HasParent(DefOp))

    def __init__(
        self,
        target: SSAValue,
        kind: str,
        init: bool,
        write_map: AffineMap | AffineMapAttr,
        lower_bounds: Sequence[SizeLike] | ArrayAttr[SizeExprAttr],
        upper_bounds: Sequence[SizeLike] | ArrayAttr[SizeExprAttr],
        body: Region,
    ):
        super().__init__(
            operands=[target],
            properties={
                "kind": StringAttr(kind),
                "init": UnitAttr() if init else None,
                "write_map": write_map
                if isinstance(write_map, AffineMapAttr)
                else AffineMapAttr(write_map),
                "lower_bounds": _size_array(lower_bounds),
                "upper_bounds": _size_array(upper_bounds),
            },
            regions=[body],
        )

    @classmethod
    def create_stmt(
        cls,
        target: SSAValue,
        kind: str,
        iterators: Sequence[tuple[str, SizeLike, SizeLike]],
        write: Sequence[str | AffineExpr],
        init: bool = False,
        yielded: int = 0,
    ) -> StmtOp:
        """A statement whose body block has the iterators as (named) arguments, no ops;
        ``yielded``: how many write subscripts its tc.yield will compute (a scatter-add;
        dimension ``d<n + k>`` of a ``write`` expression is the k-th)."""
        names = [name for name, _, _ in iterators]
        block = Block(arg_types=[IndexType()] * len(names))
        for arg, name in zip(block.args, names, strict=True):
            arg.name_hint = name_hint(name)
        write_map = AffineMap(len(names) + yielded, 0, tuple(_write_subscript(s, names) for s in write))
        lower = [lo for _, lo, _ in iterators]
        upper = [hi for _, _, hi in iterators]
        return cls(target, kind, init, write_map, lower, upper, Region(block))

    @property
    def iterators(self) -> tuple[BlockArgument, ...]:
        return self.body.block.args

    @property
    def is_init(self) -> bool:
        return self.init is not None

    @property
    def yielded_indices(self) -> tuple[SSAValue, ...]:
        """The write subscripts the body computes (a scatter-add), dims ``n..`` of the
        write map after the ``n`` iterators."""
        last = self.body.block.last_op
        return tuple(last.indices) if isinstance(last, YieldOp) else ()

    def reduction_iterators(self) -> tuple[BlockArgument, ...]:
        """Iterators that the write subscripts do not use."""
        used = set().union(*(e.used_dims() for e in self.write_map.data.results))
        return tuple(arg for arg in self.iterators if arg.index not in used)

    @property
    def title(self) -> str:
        return f"tc.stmt writing {_describe(self.target)}"

    def verify_(self) -> None:
        self._verify_kind()
        self._verify_domain()
        self._verify_write()
        self._verify_yield()
        if isinstance(def_op := self.parent_op(), DefOp):
            self._verify_in_def(def_op)

    def _verify_kind(self) -> None:
        kind = self.kind.data
        if kind not in KINDS:
            raise VerifyException(
                f"{self.title} has kind `{kind}`; expected one of {', '.join(KINDS)}"
            )
        if kind == "=" and self.is_init:
            raise VerifyException(
                f"{self.title}: `=!` is invalid; `!` (init) needs a reduction kind (+, *, min, max)"
            )

    def _verify_domain(self) -> None:
        n = len(self.iterators)
        for bounds, which in ((self.lower_bounds, "lower"), (self.upper_bounds, "upper")):
            if len(bounds) != n:
                raise VerifyException(
                    f"{self.title} has {n} iterators but {len(bounds)} {which} bounds"
                )
        for arg in self.iterators:
            if not isinstance(arg.type, IndexType):
                raise VerifyException(
                    f"{self.title}: iterator {_describe(arg)} must have type index, got {arg.type}"
                )

    def _verify_write(self) -> None:
        map = self.write_map.data
        assert isinstance(self.target.type, TensorType)
        _verify_subscripts(map, f"{self.title}: write_map")
        computed = len(self.yielded_indices)
        if map.num_dims != len(self.iterators) + computed:
            raise VerifyException(
                f"{self.title}: write_map has {map.num_dims} dims but the statement has "
                f"{len(self.iterators)} iterators and yields {computed} indices"
            )
        if computed and (self.kind.data != "+" or self.is_init):
            raise VerifyException(
                f"{self.title}: a write at yielded indices is a scatter-add: its kind must be "
                f"`+=`, not `{assignment_text(self.kind.data, self.is_init)}`"
            )
        if len(map.results) != self.target.type.rank:
            raise VerifyException(
                f"{self.title}: write_map has {len(map.results)} results but the target has "
                f"rank {self.target.type.rank}"
            )
        if self.kind.data == "=" and (reductions := self.reduction_iterators()):
            raise VerifyException(
                f"{self.title}: `=` cannot have reduction iterators, but "
                f"{_describe(reductions[0])} is not used in the write subscripts"
            )

    def _verify_yield(self) -> None:
        assert isinstance(self.target.type, TensorType)
        last = self.body.block.last_op
        if not isinstance(last, YieldOp):
            raise VerifyException(f"{self.title}: body must end with tc.yield")
        expected = signless(self.target.type.element_type)
        if last.value.type != expected:
            raise VerifyException(
                f"{self.title}: tc.yield has type {last.value.type}, but the target's "
                f"element type needs {expected}"
            )

    def _verify_in_def(self, def_op: DefOp) -> None:
        target = self.target
        if not isinstance(target, BlockArgument) or target.owner is not def_op.body.block:
            raise VerifyException(
                f"{self.title}: the target must be an argument of the enclosing {def_op.title}"
            )
        if def_op.role(target) == "input":
            raise VerifyException(
                f"{self.title}: {_describe(target)} is an input of {def_op.title}; "
                "inputs are read-only"
            )
        domain = zip(self.iterators, self.lower_bounds, self.upper_bounds, strict=True)
        for arg, lower, upper in domain:
            def_op.check_sizes(
                (lower.data, upper.data), f"{self.title}: the range of iterator {_describe(arg)}"
            )

    def print(self, printer: Printer) -> None:
        # Like numbering in a def, names restart in every statement (siblings' values
        # are not visible to each other, so the text stays unambiguous).
        printer.enter_scope()
        printer.print_string(" ")
        with printer.in_parens():
            printer.print_list(
                zip(self.iterators, self.lower_bounds, self.upper_bounds, strict=True),
                lambda iterator: self._print_iterator(printer, *iterator),
            )
        printer.print_string(" ")
        printer.print_ssa_value(self.target)
        computed = [f"at({k})" for k in range(len(self.yielded_indices))]
        print_subscripts(printer, self.write_map.data, [*self.iterators, *computed])
        printer.print_string(" " + assignment_text(self.kind.data, self.is_init))
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False)
        printer.exit_scope()

    @staticmethod
    def _print_iterator(
        printer: Printer, arg: BlockArgument, lower: SizeExprAttr, upper: SizeExprAttr
    ) -> None:
        printer.print_ssa_value(arg)
        printer.print_string(f" in {lower.data} to {upper.data}")

    @classmethod
    def parse(cls, parser: Parser) -> StmtOp:
        domain = parser.parse_comma_separated_list(
            parser.Delimiter.PAREN, lambda: _parse_iterator(parser)
        )
        iterators = [iterator for iterator, _, _ in domain]
        positions = {iterator.name.text[1:]: i for i, iterator in enumerate(iterators)}
        target = parse_defined_operand(parser)

        # Iterators are defined by the body region, so subscripts name them directly.
        def iterator_dim(operand: UnresolvedOperand) -> AffineExpr:
            if operand.operand_name not in positions or operand.index:
                parser.raise_error(
                    f"{operand.span.text} is not an iterator of this tc.stmt", operand.span
                )
            return AffineExpr.dimension(positions[operand.operand_name])

        # `at(k)`: the k-th index the body's tc.yield computes (a scatter-add)
        computed: list[int] = []

        def yielded_dim() -> AffineExpr | None:
            if parser.parse_optional_keyword("at") is None:
                return None
            parser.parse_punctuation("(", " after `at` (`at(k)`: the k-th index tc.yield computes)")
            k = parser.parse_integer(allow_negative=False, allow_boolean=False)
            parser.parse_punctuation(")", " to end `at(k)`")
            computed.append(k)
            return AffineExpr.dimension(len(iterators) + k)

        write = parse_subscripts(parser, iterator_dim, yielded_dim)
        kind, init = parse_assignment(parser)
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region(iterators)
        write_map = AffineMap(len(iterators) + max(computed, default=-1) + 1, 0, tuple(write))
        lower = [lo for _, lo, _ in domain]
        upper = [hi for _, _, hi in domain]
        op = cls(target, kind, init, write_map, lower, upper, body)
        if attributes is not None:
            op.attributes |= attributes.data
        return op


# ----------------------------------------------------------------------------------
# Body ops: tc.read, tc.size, tc.yield
# ----------------------------------------------------------------------------------


def _canonical_access(
    map: AffineMap, indices: Sequence[SSAValue]
) -> tuple[AffineMap, tuple[SSAValue, ...]]:
    """Each index value once, in order of first use: what the custom syntax can express."""
    values = list(dict.fromkeys(indices[d] for d in first_use_order(map)))
    dims = [
        AffineExpr.dimension(values.index(v)) if v in values else AffineExpr.constant(0)
        for v in indices
    ]
    results = tuple(r.replace_dims_and_symbols(dims, ()) for r in map.results)
    return AffineMap(len(values), 0, results), tuple(values)


@irdl_op_definition
class ReadOp(IRDLOperation):
    """Read one element of a def argument at affine subscripts of index values."""

    name = "tc.read"

    tensor = operand_def(TensorType)
    indices = var_operand_def(IndexType)
    map = prop_def(AffineMapAttr)
    result = result_def()

    traits = traits_def(HasAncestor(StmtOp), MemoryReadEffect())

    def __init__(
        self,
        tensor: SSAValue,
        indices: Sequence[SSAValue],
        map: AffineMap | AffineMapAttr | None = None,
        result_type: Attribute | None = None,
    ):
        if not isinstance(tensor.type, TensorType):
            raise ValueError(f"tc.read needs a !tc.tensor, got {tensor.type}")
        if map is None:
            map = AffineMap.identity(len(indices))
        elif isinstance(map, AffineMapAttr):
            map = map.data
        map, indices = _canonical_access(map, indices)
        super().__init__(
            operands=[tensor, indices],
            properties={"map": AffineMapAttr(map)},
            result_types=[result_type or signless(tensor.type.element_type)],
        )

    @property
    def title(self) -> str:
        return f"tc.read of {_describe(self.tensor)}"

    def verify_(self) -> None:
        assert isinstance(self.tensor.type, TensorType)
        stmt = HasAncestor(StmtOp).get_ancestor(self)
        def_op = stmt.parent_op() if stmt is not None else None
        if isinstance(def_op, DefOp) and (
            not isinstance(self.tensor, BlockArgument) or self.tensor.owner is not def_op.body.block
        ):
            raise VerifyException(
                f"{self.title}: the tensor must be an argument of the enclosing {def_op.title}"
            )
        self._verify_map(self.tensor.type.rank)
        expected = signless(self.tensor.type.element_type)
        if self.result.type != expected:
            raise VerifyException(
                f"{self.title}: result type {self.result.type} should be {expected}"
            )

    def _verify_map(self, rank: int) -> None:
        map = self.map.data
        _verify_subscripts(map, f"{self.title}: map")
        if map.num_dims != len(self.indices):
            raise VerifyException(
                f"{self.title}: map has {map.num_dims} dims for {len(self.indices)} index operands"
            )
        if len(map.results) != rank:
            raise VerifyException(
                f"{self.title}: {len(map.results)} subscripts for a tensor of rank {rank}"
            )
        n = len(self.indices)
        if first_use_order(map) != list(range(n)) or len(set(self.indices)) != n:
            operands = ", ".join(_describe(v) for v in self.indices) or "none"
            raise VerifyException(
                f"{self.title}: index operands must be distinct and listed in order of first "
                f"use in the map (got {map} for {operands})"
            )

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.tensor)
        print_subscripts(printer, self.map.data, self.indices)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ReadOp:
        tensor = parse_defined_operand(parser)
        if not isinstance(tensor.type, TensorType):
            parser.raise_error(f"tc.read needs a !tc.tensor, got {tensor.type}")
        operands: dict[tuple[str, int], UnresolvedOperand] = {}

        def index_dim(operand: UnresolvedOperand) -> AffineExpr:
            key = (operand.operand_name, operand.index)
            operands.setdefault(key, operand)
            return AffineExpr.dimension(list(operands).index(key))

        subscripts = parse_subscripts(parser, index_dim)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":", " before the result type of tc.read")
        result_type = parser.parse_type()
        indices = [parser.resolve_operand(o, IndexType()) for o in operands.values()]
        op = cls(tensor, indices, AffineMap(len(indices), 0, tuple(subscripts)), result_type)
        op.attributes |= attributes
        return op


@irdl_op_definition
class SizeOp(IRDLOperation):
    """The value of a size of the enclosing def (TC sizes are int32 values)."""

    name = "tc.size"

    size = prop_def(StringAttr)
    result = result_def(IndexTypeConstr | EqAttrConstraint(i32))

    traits = traits_def(HasAncestor(DefOp), Pure())

    assembly_format = "$size attr-dict `:` type($result)"

    def __init__(self, name: str, result_type: Attribute = IndexType()):
        super().__init__(properties={"size": StringAttr(name)}, result_types=[result_type])

    def verify_(self) -> None:
        def_op = HasAncestor(DefOp).get_ancestor(self)
        assert isinstance(def_op, DefOp)
        if (name := self.size.data) not in (sizes := def_op.size_names()):
            raise VerifyException(
                f"tc.size `{name}` is not a size of {def_op.title} (sizes: {_format_sizes(sizes)})"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminator of a tc.stmt body: the value to store (or to combine with), and for a
    scatter-add the write subscripts it computes (``tc.yield %v at [%e] : f32``)."""

    name = "tc.yield"

    value = operand_def()
    indices = var_operand_def(IndexType)

    traits = traits_def(IsTerminator(), HasParent(StmtOp), Pure())

    def __init__(self, value: SSAValue | Operation, indices: Sequence[SSAValue] = ()):
        super().__init__(operands=[value, indices])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.value)
        if self.indices:
            printer.print_string(" at ")
            with printer.in_square_brackets():
                printer.print_list(self.indices, printer.print_ssa_value)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.value.type)

    @classmethod
    def parse(cls, parser: Parser) -> YieldOp:
        value = parser.parse_unresolved_operand()
        indices = []
        if parser.parse_optional_keyword("at") is not None:
            indices = parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, parser.parse_unresolved_operand
            )
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":", " before the type of tc.yield's value")
        op = cls(
            parser.resolve_operand(value, parser.parse_type()),
            [parser.resolve_operand(i, IndexType()) for i in indices],
        )
        op.attributes |= attributes
        return op


_FLOATS = (f16, bf16, f32, f64)


@irdl_op_definition
class BuiltinOp(IRDLOperation):
    """A TC builtin math function without a ``math`` dialect op (``erfinv``, ``j0``...)."""

    name = "tc.builtin"

    fn = prop_def(StringAttr)
    args = var_operand_def()
    result = result_def()

    traits = traits_def(Pure())

    assembly_format = "$fn `(` $args `)` attr-dict `:` functional-type($args, $result)"

    def __init__(self, fn: str, args: Sequence[SSAValue], result_type: Attribute):
        super().__init__(
            operands=[args], properties={"fn": StringAttr(fn)}, result_types=[result_type]
        )

    def verify_(self) -> None:
        fn = self.fn.data
        if (arity := ARITY.get(fn)) is None:
            raise VerifyException(f"tc.builtin: `{fn}` is not a TC builtin function")
        if len(self.args) != arity:
            raise VerifyException(f"tc.builtin {fn} takes {arity} arguments, got {len(self.args)}")
        t = self.result.type
        if t not in _FLOATS or any(arg.type != t for arg in self.args):
            types = ", ".join(str(arg.type) for arg in self.args)
            raise VerifyException(
                f"tc.builtin {fn}: arguments and result must have one float type, "
                f"got ({types}) -> {t}"
            )


TC = Dialect("tc", [DefOp, StmtOp, ReadOp, SizeOp, BuiltinOp, YieldOp], [SizeExprAttr, TensorType])
