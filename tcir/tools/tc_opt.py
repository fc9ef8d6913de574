"""`tc-opt`: tcir's optimizer driver, an `xDSLOptMain` that also reads TC source.

    tc-opt examples/matmul.tc                  # verified `tc` dialect IR
    tc-opt prog.tc --entry matmul --emit=tc    # one def, up to a pipeline stage
    tc-opt prog.tc --sizes M=64,N=64,K=64 --mapping 'tile=32,32' --emit=loops
                                               # the polyhedral pipeline (isl schedule)
    tc-opt prog.tc --sizes M=64,N=64,K=64 --mapping mlp --emit=gpu
                                               # kernels and their launches (docs/gpu.md)
    tc-opt prog.tc --sizes M=64,N=64,K=64 --emit=ptx --arch sm_80
                                               # PTX text
    tc-opt prog.tc --sizes M=64,N=64,K=64 --emit=ptx --gpu-report
                                               # and the performance model after it, as
                                               # PTX comments (tcir.gpu_report, docs/gpu.md)
    tc-opt ir.mlir --emit=llvm                 # IR of a stage (tc-opt's or MLIR 19's),
                                               # carried on from the stage it is at
    tc-opt ir.mlir -p some-pass                # explicit passes on IR

Every bad input or usage ends with `file:line:col: error: ...` (or `error: ...`) on
stderr and exit status 1, never a traceback (docs/tc-opt.md). With
`--verify-diagnostics` errors go to stdout and the run goes on with the next
`--split-input-file` chunk, as xdsl-opt does; where the input holds MLIR's
`expected-error {{...}}` annotations they are checked as MLIR does (verify_diagnostics.py).
What tc-opt prints is read by upstream MLIR 19, and what MLIR 19 prints is read back
(mlir_io.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from io import BytesIO
from itertools import accumulate
from typing import IO, Any

from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer
from xdsl.utils.arg_spec import parse_spec
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError, ShrinkException
from xdsl.xdsl_opt_main import xDSLOptMain

from .. import driver
from ..backends.nvptx import ARCHS
from ..errors import Location, TcError, TcWarning
from ..gpu_model import format_report, module_report
from ..mapping_options import MappingOptions
from ..universe import TCIR_UNIVERSE
from .mlir_io import IrReader, affine_lowering_problems, export_to_mlir19, load_upstream_ops
from .verify_diagnostics import Diagnostic, expectations, unmet

# Inputs larger than this are refused before they are parsed (a TC source is a few KiB,
# the llvm stage of a large program a few MiB; `/dev/zero` is endless).
MAX_INPUT_BYTES = 256 << 20


def pipeline_error(spec: str, err: ArgSpecParseError) -> TcError:
    """A malformed `-p` as `-p:1:COL: error: malformed pass pipeline: ...`, quoted."""
    m = re.search(r"pass-pipeline:(\d+):(\d+)\n.*\n.*\n\s*(.*)", str(err))
    if m is None:
        return TcError(f"-p: malformed pass pipeline `{spec}`")
    return TcError(f"malformed pass pipeline: {m[3]}", Location("-p", int(m[1]), int(m[2]), spec))


class Failure(Exception):
    """The end of a run, with its message already formatted (`file:line:col: error: ...`)."""


class TcOptMain(xDSLOptMain):
    version_format = "tc-opt (tcir) built on xdsl {xdsl_version}"

    def __init__(self, args: Sequence[str] | None = None):
        self.reader: IrReader | None = None  # of the chunk being read, if it is IR
        self.text: str | None = None  # the result of a stage that is text (llvm-ir, ptx)
        self.input_text = ""
        self.offset = 0  # the lines before the chunk being read
        super().__init__(description="tcir optimizer driver: TC source or MLIR in, IR out", args=args)

    # Registration --------------------------------------------------------------------

    def register_all_dialects(self):
        super().register_all_dialects()
        for name, factory in TCIR_UNIVERSE.all_dialects.items():
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)
        load_upstream_ops(self.ctx)

    def register_all_passes(self):
        super().register_all_passes()
        for name, factory in TCIR_UNIVERSE.all_passes.items():
            self.available_passes.setdefault(name, factory)

    def register_all_frontends(self):
        super().register_all_frontends()
        self.available_frontends["mlir"] = self.parse_mlir
        self.available_frontends["tc"] = self.parse_tc

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument("--entry", metavar="NAME", help="compile only the def NAME of a .tc source")
        arg_parser.add_argument("--emit", choices=driver.STAGE_NAMES, default=None,
                                help="run the standard pipeline up to this stage (default: tc); IR input "
                                     "starts from the stage it is at")
        arg_parser.add_argument("--sizes", metavar="M=128,N=64", default="",
                                help="specialize sizes to constants (needed past --emit=affine, and for --mapping, "
                                     "--emit=gpu and --emit=ptx, unless the defs have no symbolic sizes)")
        arg_parser.add_argument("--strides", metavar="A=1:64", default="",
                                help="element strides of tensor arguments (with --sizes)")
        arg_parser.add_argument("--mapping", metavar="OPTIONS", default=None,
                                help="schedule with isl under these tcir.MappingOptions: a preset ("
                                     + ", ".join(MappingOptions.PRESETS) + ") or the text form ('tile=32,32 "
                                     "unroll=4', on top of naive; '' is naive). The polyhedral pipeline, "
                                     "tc -> loops (with --sizes); with --emit=gpu|ptx, the GPU mapping")
        arg_parser.add_argument("--arch", choices=ARCHS, default=ARCHS[-1],
                                help="the GPU architecture of --emit=ptx (default: %(default)s)")
        arg_parser.add_argument("--gpu-report", action="store_true",
                                help="with --emit=ptx: print the kernels' performance model (registers, spills, "
                                     "occupancy, coalescing, bank conflicts; tcir.gpu_report) after the PTX, "
                                     "as PTX comments")

    def setup_pipeline(self):
        try:
            super().setup_pipeline()
        except ArgSpecParseError as err:  # a BaseException in xDSL
            raise pipeline_error(self.args.passes, err) from None
        except (ValueError, TypeError, KeyError) as err:  # unknown passes, options or values
            raise TcError(f"-p: {err.args[0] if isinstance(err, KeyError) and err.args else err}") from None

    # Input ----------------------------------------------------------------------------

    def get_input_name(self) -> str:
        return "stdin" if self.args.input_file in (None, "-") else self.args.input_file

    def prepare_input(self) -> tuple[list[tuple[IO[bytes], int]], str]:
        """The input, read at most `MAX_INPUT_BYTES` (refused beyond), split into
        chunks with `--split-input-file`."""
        name = self.get_input_name()
        from_stdin = name == "stdin"
        extension = self.args.frontend or ("mlir" if from_stdin else os.path.splitext(name)[1].removeprefix("."))
        if extension not in self.available_frontends:
            raise Failure(f"{name}: error: unrecognized file extension '{extension}' (tc-opt reads "
                          + ", ".join(f".{e}" for e in self.available_frontends) + "; -f names one)")
        if self.args.entry is not None and extension != "tc":
            raise TcError("--entry picks a def of TC source; the input is IR")
        if from_stdin and sys.stdin is None:
            raise TcError("stdin is closed: name an input file")
        with (open(self.args.input_file, "rb") if not from_stdin else sys.stdin.buffer) as stream:
            data = stream.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise Failure(f"{name}: error: the input is larger than {MAX_INPUT_BYTES >> 20} MiB, the most tc-opt reads")
        self.input_text = data.decode("utf-8", errors="replace")
        parts = data.split(b"// -----") if self.args.split_input_file else [data]
        offsets = accumulate([0, *[part.count(b"\n") for part in parts[:-1]]])
        return [(BytesIO(part), offset) for part, offset in zip(parts, offsets, strict=True)], extension

    def parse_chunk(self, chunk: IO[bytes], file_extension: str, start_offset: int = 0) -> ModuleOp | None:
        self.offset, self.reader = start_offset, None
        return super().parse_chunk(chunk, file_extension, start_offset)

    def decoded(self, io: IO[bytes]) -> str:
        """A chunk's text, after empty lines standing for those before it (so that
        locations count from the start of the file)."""
        data = b"\n" * self.offset + io.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
            raise TcError("the source is not UTF-8 text", Location(self.get_input_name(), line, col)) from None

    def parse_mlir(self, io: IO[bytes]) -> ModuleOp:
        self.reader = IrReader(self.ctx, self.decoded(io), self.get_input_name())
        module = self.reader.read(not self.args.no_implicit_module)
        for op in module.walk():  # the first op whose own verifier fails, located
            try:
                op.verify(verify_nested_ops=False)
            except DiagnosticException as err:
                raise self.reader.error(op, str(err.args[0]) if err.args else type(err).__name__) from None
        return module

    def parse_tc(self, io: IO[bytes]) -> ModuleOp:
        return driver.tc_to_module(self.decoded(io), self.get_input_name(), self.args.entry)

    # Running -------------------------------------------------------------------------

    def apply_passes(self, prog: ModuleOp):
        """The stages of `--emit` (timed and printed between, as xdsl-opt does passes),
        then the passes of `-p`."""
        self.text = None
        if self.args.gpu_report and self.args.emit != "ptx":
            raise TcError("--gpu-report describes the kernels of --emit=ptx; add --emit=ptx (and --sizes)")
        after = driver.stage_of(prog) if self.args.emit else "tc"
        target, job = self.pipeline_for(after)
        stages = driver.stages_between(prog, target, self.args.emit or "tc", job, after)
        if "loops" in stages and after == "affine":
            self.check_lowerable_affine(prog)
        artifact: Any = prog
        for i, name in enumerate(stages):
            start = time.perf_counter()
            artifact = target.stages[name](artifact, job)
            if self.args.time_passes:
                print(f"Stage {name} took {time.perf_counter() - start} seconds")
            if self.args.print_between_passes and (i + 1 < len(stages) or self.pipeline.passes):
                print(f"IR after stage {name}:")
                if isinstance(artifact, str):
                    print(artifact)
                else:
                    Printer(stream=sys.stdout).print_op(artifact)
                print("\n\n\n")
        if isinstance(artifact, str):  # llvm-ir, ptx: text, not IR
            if self.pipeline.passes:
                raise TcError(f"-p runs passes on IR; --emit={self.args.emit} is text")
            if self.args.gpu_report:  # `prog` is the gpu stage the PTX was made of
                options = str(job.mapping) if after == "tc" else None
                report = format_report(module_report(prog, self.args.arch, artifact, options=options))
                artifact = artifact.rstrip("\n") + "\n\n" + "".join(f"// {line}\n" for line in report.splitlines())
            self.text = artifact
            return
        if any(p.name == "lower-affine" for p in self.pipeline.passes):
            self.check_lowerable_affine(prog)
        super().apply_passes(prog)

    def pipeline_for(self, after: str) -> tuple[driver.Target, driver.Job]:
        """The target and options that `--emit`, `--mapping`, `--sizes`, `--strides` and
        `--arch` choose: the GPU pipeline for the gpu and ptx stages, the polyhedral CPU
        one with `--mapping`, else the parametric one."""
        args = self.args
        if args.strides and not args.sizes:
            raise TcError("--strides needs --sizes: strides specialize the layout of known sizes")
        if after != "tc" and (args.sizes or args.mapping is not None):
            raise TcError(f"--sizes and --mapping apply to `tc` IR; the input is at the `{after}` stage")
        layout = driver.Layout.parse(args.sizes, args.strides) if args.sizes else None
        mapping = MappingOptions(args.mapping or "")
        if args.emit in ("gpu", "ptx"):
            return driver.CudaTarget(driver.GpuMachine(args.arch)), driver.Job(layout, mapping)
        if args.mapping is not None:
            return driver.CpuTarget(), driver.Job(layout, mapping)
        return driver.AffineTarget(), driver.Job(layout)

    def check_lowerable_affine(self, module: ModuleOp) -> None:
        """xDSL's lower-affine runs next: what it cannot lower is an error, located."""
        for op, why in affine_lowering_problems(module):
            message = f"cannot lower `{op.name}` to loops: {why}"
            raise self.reader.error(op, message) if self.reader else TcError(message)

    def output_resulting_program(self, prog: ModuleOp) -> str:
        if self.text is not None:
            return self.text
        name = parse_spec(self.args.target).name
        if name == "mlir":
            export_to_mlir19(prog, self.args.print_op_generic)
            return super().output_resulting_program(prog)
        stage = driver.stage_of(prog)
        if name == "llvm" and stage != "llvm":
            raise TcError(f"-t llvm translates the `llvm` stage; this IR is at the `{stage}` stage "
                          "(--emit=llvm-ir goes there from any stage)")
        try:
            printed = super().output_resulting_program(prog)
        except Exception:  # noqa: BLE001 - xDSL's targets assert on IR they do not print
            printed = ""
        if not printed.strip() and prog.ops:
            raise TcError(f"-t {name} does not print this IR (it prints its own dialects; tcir's stages "
                          "print with -t mlir, --emit=llvm-ir and --emit=ptx)")
        return printed

    # The run ---------------------------------------------------------------------------

    def run(self):
        """xdsl-opt's loop over the chunks, with every error of a chunk reported (and,
        with `--verify-diagnostics`, the annotations checked at the end)."""
        chunks, extension = self.prepare_input()
        expected = expectations(self.input_text, self.get_input_name()) if self.args.verify_diagnostics else []
        produced: list[Diagnostic] = []
        output = self.prepare_output()
        if output is None:
            raise TcError("stdout is closed: name an output file with -o")
        try:
            for i, (chunk, offset) in enumerate(chunks):
                if i > 0:
                    output.write("// -----\n")
                parsing = True
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", TcWarning)
                    try:
                        module = self.parse_chunk(chunk, extension, offset)
                        parsing = False
                        if module is not None:
                            self.apply_passes(module)
                            output.write(self.output_resulting_program(module))
                        output.flush()
                    except ShrinkException:
                        print("Success, can shrink")
                        sys.exit(0)
                    except (TcError, DiagnosticException, ParseError, RecursionError) as err:
                        produced.append(self.report(self.error_text(err, offset), parsing))
                    finally:
                        for w in caught:
                            if isinstance(w.message, TcWarning):
                                produced.append(Diagnostic.of(str(w.message)))
                                print(str(w.message), file=sys.stderr)
                            else:
                                print(warnings.formatwarning(w.message, w.category, w.filename, w.lineno),
                                      end="", file=sys.stderr)
        finally:
            if output is not sys.stdout:
                output.close()
        failures = unmet(expected, produced) if expected else []
        if failures:
            raise Failure("\n".join(failures))
        if self.args.shrink:
            print("Failure, can't shrink")
            raise TcError("--shrink: no pass raised ShrinkException, so the input cannot shrink")

    def error_text(self, err: Exception, offset: int) -> str:
        if isinstance(err, ParseError):
            return f"{err.span.get_location()}: error: {err.msg}"
        if isinstance(err, RecursionError):
            return (f"{self.get_input_name()}:{offset + 1}:1: error: the IR is nested too deeply for tc-opt "
                    "(Python's recursion limit)")
        if isinstance(err, DiagnosticException):
            return f"error: {err.args[0] if err.args else type(err).__name__}"
        return str(err)

    def report(self, text: str, parsing: bool) -> Diagnostic:
        """An error of a chunk: printed on stdout, to go on with the next chunk, with
        `--verify-diagnostics` (and `--parsing-diagnostics` for parse errors); else the end."""
        if self.args.verify_diagnostics or (parsing and self.args.parsing_diagnostics):
            print(text)
            return Diagnostic.of(text)
        raise Failure(text)


def main(args: Sequence[str] | None = None) -> None:
    code = run(args)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as err:
        code = write_error(err)
    sys.exit(code)


def run(args: Sequence[str] | None) -> int:
    """tc-opt's exit status, every error reported on stderr."""
    try:
        TcOptMain(args=args).run()
        return 0
    except SystemExit as done:  # argparse's usage errors exit with 2
        return 1 if done.code == 2 else done.code
    except (TcError, Failure) as err:
        print(err, file=sys.stderr)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"{err.filename}: error: {err.strerror}", file=sys.stderr)
    except OSError as err:
        return write_error(err)
    except RecursionError:
        print("error: the IR is nested too deeply for tc-opt (Python's recursion limit)", file=sys.stderr)
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - the CLI never shows a traceback
        if os.environ.get("TCIR_DEBUG"):
            raise
        print(f"error: internal compiler error: {type(err).__name__}: {err} "
              "(set TCIR_DEBUG=1 for a traceback and report it)", file=sys.stderr)
    return 1


def write_error(err: OSError) -> int:
    """The output could not be written (a full disk; a reader gone, which is silent):
    status 1, and what is left in stdout's buffer is dropped, not flushed again at exit."""
    if not isinstance(err, BrokenPipeError):
        print(f"error: cannot write the output: {err.strerror or err}", file=sys.stderr)
    if sys.stdout is not None:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    main()
