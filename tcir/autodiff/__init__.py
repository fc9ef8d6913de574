"""Automatic differentiation of TC: `tcir.grad(source, entry, wrt=None) -> str`.

`grad` returns the TC source of a def `<entry>_grad(inputs..., d_outputs...) ->
(d_inputs...)` that computes the vector-Jacobian product of `entry`: given the inputs
and an adjoint `d_O` (of the shape of `O`) for every float output `O`, it returns
`d_X = ∂(Σ_O sum(d_O * O))/∂X` for every input `X` in `wrt` (default: every float
input, scalars included). The result is ordinary TC: it checks with
`tcir.frontend.check_source` and compiles with `tcir.compile` like any def
(docs/autodiff.md).

How (reverse mode over the statements, `reverse.py`): the forward statements are
**recomputed** at the top of the gradient def, with every intermediate value of a
tensor written several times kept under its own name (`O1_1`, `O1_2`, ...); then the
statements are visited last to first and each adds its contribution to the adjoints of
what it read. Recomputing rather than taking the forward results as extra inputs keeps
the signature to inputs and output adjoints, needs no saved state between two calls,
and costs one more forward pass, which is what TC's statements are cheap at; forward
statements whose values the reverse part does not read are dropped.

What is differentiated (`rules.py` has the rules):

* element-wise `+ - * /` and `%` (fmod), unary `-`, `min`/`max` of two values (a tie
  splits the adjoint evenly), casts between float types (casts to or from integers
  carry no gradient), `c ? a : b` (the adjoint flows through the branch taken only);
* builtins: exp exp2 exp10 expm1 log log2 log10 log1p sqrt rsqrt cbrt rcbrt sin cos tan
  asin acos atan sinh cosh tanh asinh acosh atanh sinpi cospi erf erfc erfcx erfinv
  erfcinv normcdf normcdfinv fabs j0 j1 cyl_bessel_i0 cyl_bessel_i1 pow atan2 hypot
  rhypot fdivide fmod remainder copysign fdim fmax fmin fma norm3d rnorm3d norm4d
  rnorm4d; `floor ceil round trunc logb` are piecewise constant and get a zero
  gradient (as in PyTorch); `lgamma tgamma nextafter y0 y1` raise a located `TcError`;
* `=`, `+=!` (the adjoint is a broadcast: `d_A(m, r_k) +=! d_C(m, n) * B(r_k, n)`),
  `*=!` (exact with zero factors), `max=!`/`min=!` (through the mask of the points
  that reach the extremum, ties sharing the adjoint evenly as PyTorch's `amax` does),
  `+= *= min= max=` without `!` into a tensor already written (the previous value is
  one more point of the reduction, or one operand of a combination per point);
  several statements writing one tensor, partial overwrites, temporaries, reads of
  earlier results, reads of the target itself at the element written or at one a
  later point writes (both still hold the previous value);
* subscripts: any affine subscript. A read `I(n, c, h + r_kh)` becomes a write
  `d_I(n, c, h_in)` after the change of variables `r_kh = h_in - h`, whose range
  becomes a `?:` guard; the forward `where` ranges are kept, written explicitly
  wherever the inference of the generated statement would give another domain. An
  indirect or non-affine subscript (`LUT(I(i))`) gets a scatter-add at it,
  `d_LUT(e) = 0` then `d_LUT(I(i)) += ...`; a forward scatter-add gets a gather.

The gradient def is ordinary TC, so `grad` of it gives second derivatives
(`tcir.torch` uses that for double backward).

Not differentiated (a `TcError` located at the statement, saying why): statements
reading their own target at an element an earlier point of the same statement wrote
(recurrences: their adjoint runs the other way, which a TC statement cannot), inside a
reduction or in a `!` statement, `*= min= max=` without `!` into a tensor no earlier
statement writes, and reading a tensor before it is written. Integer inputs get no
gradient and cannot be in `wrt`.
"""

from __future__ import annotations

from ..errors import TcError
from ..frontend import check_source
from .reverse import gradient_source

__all__ = ["grad"]


def grad(source: str, entry: str, wrt=None, filename: str = "<string>") -> str:
    """The TC source of `<entry>_grad`, the reverse-mode gradient of the def `entry`
    of `source` with respect to the inputs named in `wrt` (default: every float input).
    """
    program = check_source(source, filename)
    if entry not in program.defs:
        known = ", ".join(f"`{n}`" for n in program.defs)
        raise TcError(f"no def `{entry}` in {filename}; it defines {known}")
    d = program.defs[entry]
    inputs = {t.name: t for t in d.inputs}
    if wrt is None:
        names = [t.name for t in d.inputs if t.dtype.is_float]
        if not names:
            raise TcError(f"`{entry}` has no float input to differentiate", d.loc)
    else:
        names = [wrt] if isinstance(wrt, str) else list(wrt)
        if not names:
            raise TcError("`wrt` is empty: name at least one float input", d.loc)
        for n in names:
            if n not in inputs:
                what = "an output or temporary" if n in d.tensors else "not a parameter"
                raise TcError(f"cannot differentiate with respect to `{n}`: it is {what} of `{entry}` "
                              f"(its inputs are {', '.join(f'`{t}`' for t in inputs)})", d.loc)
            if not inputs[n].dtype.is_float:
                raise TcError(f"cannot differentiate with respect to `{n}`: it is of type "
                              f"`{inputs[n].dtype}`, and integer and bool inputs get no gradient", inputs[n].loc)
        if len(set(names)) != len(names):
            raise TcError("`wrt` names an input twice", d.loc)
    return gradient_source(d, names, filename)
