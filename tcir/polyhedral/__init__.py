"""Polyhedral core: the isl model of a ``tc.def`` and its scheduling (see docs/polyhedral.md)."""

from .model import Dependences, Model, Statement, dependences, extract, extract_module, model_from_source, specialize

__all__ = ["Dependences", "Model", "Statement", "dependences", "extract", "extract_module",
           "model_from_source", "specialize"]
from .schedule import (Fusion, ScheduleOptions, Scheduled, band_coefficients, build_ast, compute_schedule,
                       original_schedule_tree, respects, tile_outer_bands)

__all__ += ["Fusion", "ScheduleOptions", "Scheduled", "band_coefficients", "build_ast", "compute_schedule",
            "original_schedule_tree", "respects", "tile_outer_bands"]
