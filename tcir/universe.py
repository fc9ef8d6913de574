"""tcir's xDSL plugin: every tcir dialect and pass, imported only when first used.

Registered as the `xdsl.universe` entry point `tcir`, so plain `xdsl-opt` sees the
same dialects and passes as `tc-opt`. The registries are `tcir.dialects.get_all_dialects`
and `tcir.passes.get_all_passes`.

A plugin cannot add a front end to `xdsl-opt`, which ends with a `ValueError` traceback
on a file it has none for. Loading the plugin installs an exception hook that turns that
one error, for a `.tc` file, into an `error:` line pointing to `tc-opt` (exit status 1,
as before); every other exception goes to the previous hook.
"""

from __future__ import annotations

import sys
from types import TracebackType

from xdsl.universe import Universe

from tcir.dialects import get_all_dialects
from tcir.passes import get_all_passes

TCIR_UNIVERSE = Universe(all_dialects=get_all_dialects(), all_passes=get_all_passes())

TC_SOURCE_ERROR = "Unrecognized file extension 'tc'"  # what xdsl-opt raises on a .tc file


def report_tc_source(kind: type[BaseException], value: BaseException, tb: TracebackType | None,
                     previous=sys.excepthook) -> None:
    """`sys.excepthook` while the plugin is loaded: xdsl-opt's error on a `.tc` file as
    one line, everything else as `previous` reports it."""
    if kind is ValueError and str(value) == TC_SOURCE_ERROR:
        print("error: xdsl-opt has no front end for TC source (.tc); use tc-opt, which reads it "
              "(and everything xdsl-opt reads)", file=sys.stderr)
        return
    previous(kind, value, tb)


sys.excepthook = report_tc_source
