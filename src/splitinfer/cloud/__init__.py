"""The cloud half as a server: a transport-free :class:`DataPlane` and thin adapters.

``splitinfer.cloud.http`` (FastAPI) and ``splitinfer.cloud.server`` (uvicorn process)
import their optional dependencies (the ``serve`` extra) only when used.
"""

from splitinfer.cloud.batcher import Batcher
from splitinfer.cloud.dataplane import DataPlane
from splitinfer.cloud.metrics import Metrics
from splitinfer.protocol import Result, Timing

__all__ = ["Batcher", "DataPlane", "Metrics", "Result", "Timing"]
