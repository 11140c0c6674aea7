"""A transport that answers at once with the time a scripted link would take: no sockets,
no sleeping, so what the runner derives from elapsed times can be checked exactly."""

from __future__ import annotations

from collections.abc import Sequence

from splitinfer import wire
from splitinfer.edge import Reply
from splitinfer.edge.transport import Answers

SERVER_MS = 2.0  # the server's own time in every reply


class ScriptedTransport:
    """Subclasses say how long one exchange takes (:meth:`elapsed_ms`); this answers every
    route with top class 0 and that elapsed time."""

    name, url, sends_images = "http", "http://scripted", True

    def elapsed_ms(self, request_id: int, nbytes: int) -> float:
        raise NotImplementedError

    @staticmethod
    def link_ms(mbps: float, rtt_ms: float, nbytes: int) -> float:
        """``rtt + bytes / rate`` plus the server's time."""
        return rtt_ms + 8e3 * nbytes / (mbps * 1e6) + SERVER_MS

    def _reply(self, request_id: int, nbytes: int) -> Reply:
        return Reply(request_id, 0, "zero", SERVER_MS, self.elapsed_ms(request_id, nbytes), 60)

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        return self._reply(wire.decode_frame(frame)[0].request_id, len(frame))

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        return self._reply(request_id, len(image))

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        for request_id, frame in frames:
            yield request_id, self._reply(request_id, len(frame))

    def close(self) -> None:
        pass
