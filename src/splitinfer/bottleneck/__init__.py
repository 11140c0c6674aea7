"""The butterfly unit (reduction + restoration) and the codec-in-the-loop model."""

from splitinfer.bottleneck.model import BottleneckModel, insert_bottleneck
from splitinfer.bottleneck.units import ReductionUnit, RestorationUnit, UnitConfig, make_units

__all__ = [
    "BottleneckModel",
    "ReductionUnit",
    "RestorationUnit",
    "UnitConfig",
    "insert_bottleneck",
    "make_units",
]
