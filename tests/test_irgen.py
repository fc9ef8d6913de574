"""IR generation: every canonical example and construct becomes verified tc IR whose
printed form is a fixed point of print → parse → print (custom and generic)."""

from pathlib import Path

import pytest
from ir_text import parse, show
from xdsl.dialects import arith, scf

from tcir.driver import tc_to_module

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.tc"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
def test_example_round_trips(path, generic):
    module = tc_to_module(path.read_text(), path.name)
    module.verify()
    text = show(module, generic)
    reparsed = parse(text)
    reparsed.verify()
    assert show(reparsed, generic) == text


def test_every_example_has_its_defs():
    for path in EXAMPLES:
        module = tc_to_module(path.read_text(), path.name)
        defs = [op for op in module.ops if op.name == "tc.def"]
        assert len(defs) == path.read_text().count("def ")


def test_entry_selects_one_def():
    source = (ROOT / "examples" / "matmul.tc").read_text() + (ROOT / "examples" / "tmm.tc").read_text()
    module = tc_to_module(source, "two.tc", entry="tmm")
    assert [op.sym_name.data for op in module.ops] == ["tmm"]


def test_unsigned_and_bool_conversions_pick_unsigned_ops():
    module = tc_to_module("""
def f(uint16(N) U, int8(N) S) -> (A, B, C) {
    A(i) = float(U(i)) + float(S(i))
    B(i) = int32(U(i)) + int32(S(i))
    C(i) = U(i) < uint16(3) ? 1.0 : 0.0
}""")
    names = [op.name for op in module.walk()]
    assert "arith.uitofp" in names and "arith.sitofp" in names
    assert "arith.extui" in names and "arith.extsi" in names
    cmp = next(op for op in module.walk() if isinstance(op, arith.CmpiOp))
    assert cmp.predicate.value.data == 6  # ult


def test_guarded_read_is_inside_the_branch():
    module = tc_to_module("def f(float(T) X) -> (Y) { Y(t) = t >= 1 ? X(t - 1) : 0.0 where t in 0:T }")
    if_op = next(op for op in module.walk() if isinstance(op, scf.IfOp))
    reads = [op for op in if_op.walk() if op.name == "tc.read"]
    assert len(reads) == 1
