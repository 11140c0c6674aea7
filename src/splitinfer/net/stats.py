"""Per-connection counters of the link shaper (read by tests and the command line)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DirectionStats:
    """Bytes one direction has read from its source and delivered to its destination."""

    read: int = 0
    delivered: int = 0
    eof: bool = False  # the source half-closed and the EOF was passed on
    resent: int = 0  # bytes booked again by the loss model (lost segments sent again)


@dataclass
class ConnectionStats:
    """One proxied connection: ``up`` is client -> upstream, ``down`` upstream -> client."""

    id: int
    peer: str
    opened_at: float  # time.time()
    closed_at: float | None = None
    up: DirectionStats = field(default_factory=DirectionStats)
    down: DirectionStats = field(default_factory=DirectionStats)
    error: str | None = None  # why it ended abnormally (upstream unreachable, reset...)

    @property
    def bytes_up(self) -> int:
        """Bytes delivered to the upstream."""
        return self.up.delivered

    @property
    def bytes_down(self) -> int:
        """Bytes delivered to the client."""
        return self.down.delivered

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def summary(self) -> str:
        state = "open" if self.open else f"closed ({self.error or 'clean'})"
        return (
            f"conn {self.id} from {self.peer}: up {self.bytes_up} B, "
            f"down {self.bytes_down} B, {state}"
        )
