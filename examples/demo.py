"""`make demo`: compile every canonical TC example to verified `tc` dialect IR, and show
what a user sees for a mistake.

Run: .venv/bin/python examples/demo.py
"""

from __future__ import annotations

import time
from pathlib import Path

from tcir import TcError
from tcir.driver import tc_to_module

HERE = Path(__file__).parent

BROKEN = """def matvec(float(M, K) A, float(K) x) -> (y) {
    y(m) = A(m, r_k) * x(r_k)
}
"""


def main() -> None:
    for path in sorted(HERE.glob("*.tc")):
        start = time.perf_counter()
        module = tc_to_module(path.read_text(), str(path.relative_to(HERE.parent)))
        ms = (time.perf_counter() - start) * 1e3
        stmts = sum(1 for op in module.walk() if op.name == "tc.stmt")
        print(f"{path.name:26} {stmts} statement(s)  verified tc IR in {ms:6.1f} ms")
    print("\nThe IR of maxpool2x2 (note the inferred output extent):\n")
    print(tc_to_module((HERE / "maxpool2x2.tc").read_text()))
    print("\nA mistake, and the message a user gets:\n")
    try:
        tc_to_module(BROKEN, "matvec.tc")
    except TcError as err:
        print(err)


if __name__ == "__main__":
    main()
