"""`tc-opt`: tcir's optimizer driver, an `xDSLOptMain` that also reads TC source.

    tc-opt examples/matmul.tc                  # verified `tc` dialect IR
    tc-opt prog.tc --entry matmul --emit=tc    # one def, up to a pipeline stage
    tc-opt prog.tc --sizes M=64,N=64,K=64 --mapping 'tile=32,32' --emit=loops
                                               # the polyhedral pipeline (isl schedule)
    tc-opt prog.tc --sizes M=64,N=64,K=64 --emit=gpu
                                               # kernels and their launches (docs/gpu.md)
    tc-opt prog.tc --sizes M=64,N=64,K=64 --emit=ptx --arch sm_80
                                               # PTX text
    tc-opt ir.mlir -p some-pass                # explicit passes on IR

Every bad input ends with `file:line:col: error: ...` on stderr and exit status 1
(with `--verify-diagnostics` the message goes to stdout and the run continues, as
xdsl-opt does, for negative FileCheck tests).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.parser import Parser
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from .. import driver
from ..backends.nvptx import ARCHS
from ..errors import TcError, TcWarning, format_diagnostic
from ..mapping_options import MappingOptions
from ..universe import TCIR_UNIVERSE


class _LocatingParser(Parser):
    """Remembers where each operation starts, to locate verifier errors."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.op_spans: dict[Operation, object] = {}

    def parse_optional_operation(self) -> Operation | None:
        span = self._current_token.span
        op = super().parse_optional_operation()
        if op is not None:
            self.op_spans[op] = span
        return op


def _first_failing_op(module: ModuleOp) -> tuple[Operation, str] | None:
    """The first operation (in walk order) whose own verifier fails, with its message."""
    for op in module.walk():
        try:
            op.verify(verify_nested_ops=False)
        except DiagnosticException as err:
            return op, str(err.args[0]) if err.args else type(err).__name__
    return None


class _ReportedError(DiagnosticException):
    """An error already formatted for the user, with its location."""


class TcOptMain(xDSLOptMain):
    version_format = "tc-opt (tcir) built on xdsl {xdsl_version}"

    def __init__(self, args: Sequence[str] | None = None):
        self.op_spans: dict[Operation, object] = {}
        self._text: str | None = None  # the result of a stage that is text (llvm-ir, ptx)
        super().__init__(description="tcir optimizer driver: TC source or MLIR in, IR out", args=args)

    # Registration --------------------------------------------------------------------

    def register_all_dialects(self):
        super().register_all_dialects()
        for name, factory in TCIR_UNIVERSE.all_dialects.items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        super().register_all_passes()
        for name, factory in TCIR_UNIVERSE.all_passes.items():
            self.available_passes.setdefault(name, factory)

    def register_all_frontends(self):
        super().register_all_frontends()
        self.available_frontends["mlir"] = self._parse_mlir
        self.available_frontends["tc"] = self._parse_tc

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument("--entry", metavar="NAME", help="compile only the def NAME of a .tc source")
        arg_parser.add_argument("--emit", choices=driver.STAGE_NAMES, default=None,
                                help="run the standard pipeline up to this stage (default: tc)")
        arg_parser.add_argument("--sizes", metavar="M=128,N=64", default="",
                                help="specialize sizes to constants (needed past --emit=affine, and for --mapping, "
                                     "--emit=gpu and --emit=ptx, unless the defs have no symbolic sizes)")
        arg_parser.add_argument("--strides", metavar="A=1:64", default="",
                                help="element strides of tensor arguments (with --sizes)")
        arg_parser.add_argument("--mapping", metavar="OPTIONS", default=None,
                                help="schedule with isl under these tcir.MappingOptions (text form, "
                                     "e.g. 'tile=32,32 unroll=4'; '' for the naive preset): the "
                                     "polyhedral pipeline, tc -> loops (with --sizes); with "
                                     "--emit=gpu|ptx, the GPU mapping")
        arg_parser.add_argument("--arch", choices=ARCHS, default=ARCHS[-1],
                                help="the GPU architecture of --emit=ptx (default: %(default)s)")

    # Front ends ----------------------------------------------------------------------

    def _parse_mlir(self, io: IO[bytes]) -> ModuleOp:
        parser = _LocatingParser(self.ctx, io.read(), self.get_input_name())
        module = parser.parse_module(not self.args.no_implicit_module)
        self.op_spans.update(parser.op_spans)
        return module

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0) -> ModuleOp | None:
        self._chunk_line_offset = start_offset
        return super().parse_chunk(chunk, file_extension, start_offset)

    def _parse_tc(self, io: IO[bytes]) -> ModuleOp:
        # A chunk of --split-input-file keeps the line numbers of the whole file.
        data = b"\n" * self._chunk_line_offset + io.read()
        name = self.get_input_name()
        try:
            return driver.tc_to_module(data.decode("utf-8"), name, self.args.entry)
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
            raise _ReportedError(f"{name}:{line}:{col}: error: the source is not UTF-8 text") from None
        except TcError as err:  # per chunk, so --split-input-file goes on to the next one
            raise _ReportedError(str(err)) from None

    # Running -------------------------------------------------------------------------

    def apply_passes(self, prog: ModuleOp):
        self._verify(prog)
        self._text = None
        try:
            target, job = self._pipeline()
            after = driver.stage_of(prog) if self.args.emit else "tc"
            artifact = driver.lower(prog, target, self.args.emit or "tc", job, after)
            if isinstance(artifact, str):  # llvm-ir, ptx: text, not IR
                self._text = artifact
                return
            super().apply_passes(prog)
        except TcError as err:  # per chunk, so --split-input-file goes on to the next one
            raise _ReportedError(str(err)) from None

    def _pipeline(self) -> tuple[driver.Target, driver.Job]:
        """The target and options that `--emit`, `--mapping`, `--sizes`, `--strides` and
        `--arch` choose: the GPU pipeline for the gpu and ptx stages, the polyhedral CPU
        one with `--mapping`, else the parametric one."""
        args = self.args
        if args.strides and not args.sizes:
            raise TcError("--strides needs --sizes: strides specialize the layout of known sizes")
        layout = driver.Layout.parse(args.sizes, args.strides) if args.sizes else None
        mapping = MappingOptions.parse(args.mapping or "")
        if args.emit in ("gpu", "ptx"):
            return driver.CudaTarget(driver.GpuMachine(args.arch)), driver.Job(layout, mapping)
        if args.mapping is not None:
            return driver.CpuTarget(), driver.Job(layout, mapping)
        return driver.AffineTarget(), driver.Job(layout)

    def output_resulting_program(self, prog: ModuleOp) -> str:
        if self._text is not None:
            return self._text
        return super().output_resulting_program(prog)

    def _verify(self, module: ModuleOp) -> None:
        failing = _first_failing_op(module)
        if failing is None:
            return
        op, message = failing
        span = self.op_spans.get(op)
        where = span.get_location() if span is not None else None
        text = f"{where}: error: {message}" if where else f"error: '{op.name}': {message}"
        raise _ReportedError(text)

    def run(self):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", TcWarning)
                try:
                    super().run()
                finally:
                    for w in caught:
                        print(str(w.message), file=sys.stderr)
        except (TcError, _ReportedError) as err:
            self._fail(str(err))
        except ParseError as err:
            context = err.span.print_with_context().split("\n", 1)[1].rstrip()
            self._fail(f"{err.span.get_location()}: error: {err.msg}\n{context}")
        except DiagnosticException as err:
            self._fail(format_diagnostic("error", str(err.args[0]) if err.args else str(err), None))

    def _fail(self, text: str) -> None:
        if self.args.verify_diagnostics:
            print(text)
            return
        print(text, file=sys.stderr)
        sys.exit(1)


def main(args: Sequence[str] | None = None) -> None:
    try:
        TcOptMain(args=args).run()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"{err.filename}: error: {err.strerror}", file=sys.stderr)
        sys.exit(1)
    except ValueError as err:  # e.g. an unknown file extension
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - the CLI never shows a traceback
        if os.environ.get("TCIR_DEBUG"):
            raise
        print(f"error: internal compiler error: {type(err).__name__}: {err} "
              "(set TCIR_DEBUG=1 for a traceback and report it)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
