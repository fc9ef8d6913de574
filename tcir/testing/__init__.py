"""Independent oracles used by the tests; the compiler does not use them.

Each module computes what a TC program means, or runs a stage of the compiler's IR, by
a route that shares no lowering code with the compiler, so that a disagreement with the
compiled code points at a bug in one of the two:

- `reference`: the NumPy reference evaluator of TC, the execution semantics of tcir
  (`evaluate(d, *args)` on a checked definition);
- `special`: the builtin math the evaluator uses (`BUILTINS`): special functions such
  as erfinv, normcdf and the Bessel functions in high precision, and the exactly
  specified ones (fma, nextafter, sinpi, ...);
- `gpu_emulator`: runs a gpu-stage module on the CPU with CUDA's semantics, checking
  barriers, races and bounds, so that CI without a GPU can test the GPU mapping;
- `exact_formats`: the low-precision formats of `tcir.lowp` in exact rational
  arithmetic (`fractions`): decoding, rounding in every mode, and the operations, each
  rounded once;
- `mlir_interop`: lowers tcir's affine-level IR with upstream MLIR 19 and runs it with
  `mlir-cpu-runner`.

Modules of `tcir.testing` may import anything in tcir; nothing in tcir outside
`tcir.testing` imports them. They are shipped in the wheel so that tests and
benchmarks of an installed tcir can use them.
"""
