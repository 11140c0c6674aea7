"""The device side of split inference: run a bundle's edge half against a server.

``EdgeRunner`` (runner.py) runs split / cloud-only / mobile-only / auto over an
``HttpTransport`` or ``GrpcTransport`` (transport.py, picked by the URL scheme);
``auto`` asks the planner (auto.py); stream.py runs a sequence and summarizes it.
"""

from splitinfer.edge.runner import EdgeEngine, EdgeResult, EdgeRunner, load_engine
from splitinfer.edge.transport import (
    CloudRefused,
    CloudUnavailable,
    GrpcTransport,
    HttpTransport,
    Reply,
    Transport,
    connect,
)

__all__ = [
    "CloudRefused",
    "CloudUnavailable",
    "EdgeEngine",
    "EdgeResult",
    "EdgeRunner",
    "GrpcTransport",
    "HttpTransport",
    "Reply",
    "Transport",
    "connect",
    "load_engine",
]
