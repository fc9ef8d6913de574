"""tcir's xDSL plugin: every tcir dialect and pass, imported only when first used.

Registered as the `xdsl.universe` entry point `tcir`, so plain `xdsl-opt` sees the
same dialects and passes as `tc-opt`. The registries are `tcir.dialects.get_all_dialects`
and `tcir.passes.get_all_passes`.
"""

from __future__ import annotations

from xdsl.universe import Universe

from tcir.dialects import get_all_dialects
from tcir.passes import get_all_passes

TCIR_UNIVERSE = Universe(all_dialects=get_all_dialects(), all_passes=get_all_passes())
