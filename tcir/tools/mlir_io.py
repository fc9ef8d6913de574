"""IR text in and out of `tc-opt`: what upstream MLIR 19 prints and reads, located errors.

xDSL 0.74 and MLIR 19 differ in a few printed forms. `export_to_mlir19` makes what
tc-opt prints readable by `mlir-opt-19`: `gpu.module` gets its `gpu.module_end`
terminator, and in generic form the llvm overflow flags are `#llvm.overflow<...>`
(xDSL's integer, `overflowFlags = 1 : i32`, is rejected by MLIR 19). `IrReader` reads
both tc-opt's and MLIR 19's output: it undoes the above, turns upstream's ops that xDSL
lacks (`llvm.intr.maximum`, `llvm.fptosi`...) into what tcir's own passes make, and
rewrites the symbols of `affine.load`/`affine.store` maps (how the short `%A[%i + %j]`
syntax parses) as dimensions, which xDSL's `lower-affine` needs. `affine_lowering_problems`
names what that pass cannot lower (docs/tc-opt.md).
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator
from typing import Any, ClassVar

from xdsl.context import Context
from xdsl.dialects import affine, gpu, llvm
from xdsl.dialects.builtin import (
    AffineMapAttr,
    DenseArrayBase,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    UnitAttr,
    i1,
    i32,
)
from xdsl.ir import Attribute, Data, Operation, OpResult
from xdsl.ir.affine import AffineBinaryOpExpr, AffineConstantExpr, AffineExpr
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsTerminator
from xdsl.utils.exceptions import ParseError
from xdsl.utils.lexer import Span

from ..dialects import default_context
from ..errors import Location, TcError
from ..sizeexpr import INT64_MAX
from ..passes.llvm_common import Emitter, intrinsic_suffix


# --------------------------------------------------------------------------------------
# The ops and attributes of upstream MLIR 19 that xDSL lacks


@irdl_op_definition
class GpuModuleEndOp(IRDLOperation):
    """`gpu.module_end`, the terminator MLIR 19's `gpu.module` has (implicit in its
    custom syntax, explicit in the generic form that xDSL prints `gpu.module` in)."""

    name = "gpu.module_end"
    traits = traits_def(IsTerminator(), HasParent(gpu.ModuleOp))


@irdl_attr_definition
class MemoryEffectsAttr(Data[tuple[tuple[str, str], ...]]):
    """`#llvm.memory_effects<other = none, argMem = read, ...>`, which upstream's
    `convert-math-to-libm` puts on the libm functions it declares (kept as text)."""

    name = "llvm.memory_effects"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> tuple[tuple[str, str], ...]:
        def entry() -> tuple[str, str]:
            key = parser.parse_identifier()
            parser.parse_punctuation("=")
            return key, parser.parse_identifier()

        return tuple(parser.parse_comma_separated_list(parser.Delimiter.ANGLE, entry))

    def print_parameter(self, printer: Printer) -> None:
        printer.print_string("<" + ", ".join(f"{k} = {v}" for k, v in self.data) + ">")


# Upstream's `llvm.intr.<name>` ops for the intrinsics tcir's passes call (always as
# `llvm.call_intrinsic "llvm.<name>.<type>"`): name -> (operands, the i1 immediate
# argument upstream keeps as a property, or None). Those xDSL defines are left alone.
UPSTREAM_INTRINSICS: dict[str, tuple[int, str | None]] = {
    "fabs": (1, None), "sqrt": (1, None), "exp": (1, None), "exp2": (1, None), "log": (1, None),
    "log2": (1, None), "log10": (1, None), "sin": (1, None), "cos": (1, None), "floor": (1, None),
    "ceil": (1, None), "trunc": (1, None), "round": (1, None), "roundeven": (1, None), "pow": (2, None),
    "copysign": (2, None), "fma": (3, None), "maxnum": (2, None), "minnum": (2, None),
    "maximum": (2, None), "minimum": (2, None), "smax": (2, None), "smin": (2, None),
    "umax": (2, None), "umin": (2, None), "abs": (1, "is_int_min_poison"),
    "ctlz": (1, "is_zero_poison"), "cttz": (1, "is_zero_poison"), "ctpop": (1, None),
}  # fmt: skip


class UpstreamIntrinsicOp(IRDLOperation):
    """Base of the `llvm.intr.*` ops read from upstream IR; each is turned into an
    `llvm.call_intrinsic` right after parsing."""

    INTRINSIC: ClassVar[str] = ""
    ARITY: ClassVar[int] = 0
    FLAG: ClassVar[str | None] = None


def intrinsic_op(name: str, arity: int, flag: str | None) -> type[UpstreamIntrinsicOp]:
    """The op class of upstream's `llvm.intr.<name>`."""
    fields: dict[str, Any] = {
        "name": f"llvm.intr.{name}",
        "INTRINSIC": name,
        "ARITY": arity,
        "FLAG": flag,
        "__annotations__": {"INTRINSIC": ClassVar[str], "ARITY": ClassVar[int], "FLAG": ClassVar[str | None]},
        "args": var_operand_def(),
        "res": result_def(),
        "fastmathFlags": opt_prop_def(llvm.FastMathAttr),
        "assembly_format": "`(` operands `)` attr-dict `:` functional-type(operands, results)",
        "irdl_options": (ParsePropInAttrDict(),),
    }
    if flag is not None:
        fields[flag] = opt_prop_def(IntegerAttr)
    return irdl_op_definition(type("Upstream" + name.title() + "Op", (UpstreamIntrinsicOp,), fields))


class UpstreamCastOp(llvm.GenericCastOp, ABC):
    """Base of upstream's float <-> integer casts that xDSL lacks (`llvm.fptosi`...);
    each is turned into what tcir's `convert-arith-to-llvm` makes of the arith op."""

    SIGNED: ClassVar[bool] = False


@irdl_op_definition
class UpstreamFPToSIOp(UpstreamCastOp):
    name = "llvm.fptosi"
    SIGNED: ClassVar[bool] = True


@irdl_op_definition
class UpstreamFPToUIOp(UpstreamCastOp):
    name = "llvm.fptoui"


@irdl_op_definition
class UpstreamUIToFPOp(UpstreamCastOp):
    name = "llvm.uitofp"


def _missing_from_xdsl() -> tuple[list[type[Operation]], list[type[Attribute]]]:
    known = {c.name for dialect in (llvm.LLVM, gpu.GPU) for c in (*dialect.operations, *dialect.attributes)}
    ops: list[type[Operation]] = [GpuModuleEndOp, UpstreamFPToSIOp, UpstreamFPToUIOp, UpstreamUIToFPOp]
    ops += [intrinsic_op(n, arity, flag) for n, (arity, flag) in UPSTREAM_INTRINSICS.items()]
    return [op for op in ops if op.name not in known], [a for a in (MemoryEffectsAttr,) if a.name not in known]


UPSTREAM_OPS, UPSTREAM_ATTRIBUTES = _missing_from_xdsl()


def load_upstream_ops(ctx: Context) -> None:
    """Make `ctx` read the ops and attributes of MLIR 19 above."""
    for op in UPSTREAM_OPS:
        ctx.load_op(op)
    for attr in UPSTREAM_ATTRIBUTES:
        ctx.load_attr_or_type(attr)


# --------------------------------------------------------------------------------------
# Printing for MLIR 19


def export_to_mlir19(module: ModuleOp, generic: bool) -> None:
    """Make `module`'s printed form one that MLIR 19 reads (in place; the result is for
    printing only): `gpu.module_end` terminators, and in generic form the llvm overflow
    flags as `#llvm.overflow<...>`. (Kernels carry MLIR's `gpu.kernel` attribute from
    `convert-tc-to-gpu` on.)"""
    for op in module.walk():
        if isinstance(op, gpu.ModuleOp) and not isinstance(op.body.block.last_op, GpuModuleEndOp):
            op.body.block.add_op(GpuModuleEndOp())
        elif generic and isinstance(op, llvm.ArithmeticBinOpOverflow):
            flags = op.properties.get("overflowFlags")
            if isinstance(flags, IntegerAttr):
                op.properties["overflowFlags"] = llvm.OverflowAttr.from_int(flags.value.data)


# --------------------------------------------------------------------------------------
# Reading


class _LocatingParser(Parser):
    """Remembers where each operation starts, to locate later errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spans: dict[Operation, Span] = {}

    def parse_optional_operation(self) -> Operation | None:
        span = self._current_token.span
        op = super().parse_optional_operation()
        if op is not None:
            self.spans[op] = span
        return op

    def current_span(self) -> Span:
        return self._current_token.span


class IrReader:
    """IR text (tc-opt's or MLIR 19's) read into a module whose ops stay located: every
    error is a `TcError` at `name:line:col`, with the line quoted. `text` may start with
    empty lines standing for the lines before a `--split-input-file` chunk."""

    def __init__(self, ctx: Context, text: str, name: str):
        self.ctx, self.text, self.name = ctx, text, name
        self.spans: dict[Operation, Span] = {}

    def read(self, implicit_module: bool = True) -> ModuleOp:
        parser = _LocatingParser(self.ctx, self.text, self.name)
        try:
            module = parser.parse_module(implicit_module)
        except ParseError as err:
            raise TcError(err.msg, self._location(err.span)) from None
        except RecursionError:
            raise TcError("the IR is nested too deeply for tc-opt's parser (Python's recursion limit)",
                          self._location(parser.current_span())) from None
        self.spans = parser.spans
        self._import(module)
        return module

    def location(self, op: Operation) -> Location | None:
        span = self.spans.get(op)
        return self._location(span) if span is not None else None

    def error(self, op: Operation, message: str) -> TcError:
        return TcError(message if op in self.spans else f"'{op.name}': {message}", self.location(op))

    def _location(self, span: Span) -> Location:
        where = span.get_location()
        return Location(self.name, where.line, where.col, self.text)

    def _import(self, module: ModuleOp) -> None:
        """Undo `export_to_mlir19` and read MLIR 19's forms as xDSL's (in place):

        - properties xDSL's op does not define (MLIR's inherent attributes: `memory` of
          `llvm.func`, `arg_attrs` of `gpu.func`...) as attributes;
        - no `gpu.module_end`; `gpu.kernel` also as the `kernel` property of `gpu.func`;
        - llvm overflow flags as integers, `noWrapFlags` on every `llvm.getelementptr`,
          `operandSegmentSizes` on `llvm.call` and `llvm.call_intrinsic` (MLIR 19 has none);
        - upstream's `llvm.intr.*` ops and casts that xDSL lacks as tcir's equivalents
          (`_ReadUpstreamOps`);
        - the symbols of `affine.load`/`affine.store` maps as dimensions."""
        for op in list(module.walk()):
            if isinstance(op, IRDLOperation):
                defined = op.get_irdl_definition().properties
                for name in [n for n in op.properties if n not in defined]:
                    op.attributes.setdefault(name, op.properties.pop(name))
            if isinstance(op, GpuModuleEndOp):
                op.detach()
                op.erase()
            elif isinstance(op, gpu.FuncOp) and "gpu.kernel" in op.attributes:
                op.properties["kernel"] = UnitAttr()
            elif isinstance(op, llvm.ArithmeticBinOpOverflow):
                flags = op.properties.get("overflowFlags")
                if isinstance(flags, llvm.OverflowAttr):
                    if flags.data:
                        op.properties["overflowFlags"] = IntegerAttr(flags.to_int(), 32)
                    else:
                        del op.properties["overflowFlags"]
            elif isinstance(op, llvm.GEPOp):
                op.properties.setdefault("noWrapFlags", IntegerAttr(0, 32))
            elif isinstance(op, llvm.CallOp | llvm.CallIntrinsicOp):
                op.properties.setdefault("operandSegmentSizes",
                                         DenseArrayBase.from_list(i32, [len(op.operands), 0]))
            elif isinstance(op, affine.LoadOp | affine.StoreOp):
                m = op.map.data
                if m.num_symbols:
                    dims = [AffineExpr.dimension(i) for i in range(m.num_dims + m.num_symbols)]
                    op.properties["map"] = AffineMapAttr(
                        m.replace_dims_and_symbols(dims[:m.num_dims], dims[m.num_dims:], len(dims), 0))
        PatternRewriteWalker(_ReadUpstreamOps(self), apply_recursively=False).rewrite_module(module)


class _ReadUpstreamOps(RewritePattern):
    """Upstream ops xDSL lacks (or its backend cannot link) as tcir's equivalents:
    `llvm.intr.*` as `llvm.call_intrinsic` (fast-math flags dropped), `llvm.fptosi` and
    `llvm.fptoui` as the saturating intrinsics, `llvm.uitofp` and `llvm.fptrunc` from
    f64 to f16 as tcir's exact expansions (which MCJIT can link)."""

    def __init__(self, reader: IrReader):
        self.reader = reader

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        em = Emitter(rewriter, op)
        if isinstance(op, UpstreamIntrinsicOp):
            args = list(op.operands)
            if len(args) != op.ARITY or len(op.results) != 1:
                raise self.reader.error(op, f"`{op.name}` takes {op.ARITY} operand(s) and has one result")
            suffix = self._scalar_suffix(op, args[0].type)
            if op.FLAG is not None:
                flag = op.properties.get(op.FLAG)
                args.append(em.const(1 if isinstance(flag, IntegerAttr) and flag.value.data else 0, i1))
            value = em.call_intrinsic(f"llvm.{op.INTRINSIC}.{suffix}", args, op.results[0].type)
        elif isinstance(op, UpstreamCastOp):
            src, dst = op.arg.type, op.result.type
            self._scalar_suffix(op, src)
            self._scalar_suffix(op, dst)
            if isinstance(op, UpstreamUIToFPOp):
                value = em.int_to_float(op.arg, False, dst)
            else:
                value = em.float_to_int(op.arg, src, op.SIGNED, dst)
        elif (isinstance(op, llvm.FPTruncOp) and isinstance(op.arg.type, Float64Type)
              and isinstance(op.result.type, Float16Type)):
            value = em.convert_float(op.arg, Float64Type(), Float16Type())
        else:
            return
        if op in self.reader.spans and isinstance(value, OpResult):
            self.reader.spans[value.owner] = self.reader.spans[op]
        rewriter.replace_op(op, [], [value])

    def _scalar_suffix(self, op: Operation, t: Attribute) -> str:
        """The intrinsic suffix of `t`, which must be a scalar type tcir's passes handle."""
        if isinstance(t, Float16Type | Float32Type | Float64Type | IntegerType):
            return intrinsic_suffix(t)
        raise self.reader.error(op, f"`{op.name}` on {t} is not supported: tcir's llvm stage computes on "
                                "scalar f16, f32, f64 and integers (bf16 as its i16 bits)")


def parse_mlir(text: str, name: str = "<string>") -> ModuleOp:
    """IR text as tc-opt reads it (its own output or MLIR 19's), in process: parsed,
    read as xDSL's forms, verified."""
    ctx = default_context()
    load_upstream_ops(ctx)
    module = IrReader(ctx, text, name).read()
    module.verify()
    return module


# --------------------------------------------------------------------------------------
# What xDSL's lower-affine lowers


def _constants(expr: AffineExpr) -> Iterator[int]:
    if isinstance(expr, AffineConstantExpr):
        yield expr.value
    elif isinstance(expr, AffineBinaryOpExpr):
        yield from _constants(expr.lhs)
        yield from _constants(expr.rhs)


def affine_lowering_problems(module: ModuleOp) -> Iterator[tuple[Operation, str]]:
    """The ops of `module` that xDSL's `lower-affine` cannot lower (or would lower
    wrongly), with why: it lowers `affine.for` with constant single-result bounds,
    `affine.load`/`affine.store` with dimension-only maps, `affine.apply` and
    `affine.yield`, nothing else; constants must fit in int64 (`index`)."""
    for op in module.walk():
        if not op.name.startswith("affine."):
            continue
        maps = [m.data for m in (*op.properties.values(), *op.attributes.values()) if isinstance(m, AffineMapAttr)]
        if any(abs(c) > INT64_MAX for m in maps for e in m.results for c in _constants(e)):
            yield op, f"a constant of its map is beyond int64 (at most {INT64_MAX} in magnitude)"
        elif isinstance(op, affine.ForOp):
            for which, bound in (("lower", op.lowerBoundMap.data), ("upper", op.upperBoundMap.data)):
                if len(bound.results) != 1:
                    yield op, f"its {which} bound is a {'max' if which == 'lower' else 'min'} of several values"
                elif not isinstance(bound.results[0], AffineConstantExpr):
                    yield op, (f"its {which} bound `{bound.results[0]}` is not a constant (parametric IR: "
                               "specialize the sizes, e.g. `--emit=affine --sizes N=8`)")
        elif isinstance(op, affine.LoadOp | affine.StoreOp):
            if op.map.data.num_symbols:
                yield op, "its map has symbols"
        elif not isinstance(op, affine.ApplyOp | affine.YieldOp):
            yield op, "xDSL's `lower-affine` does not lower this op"
