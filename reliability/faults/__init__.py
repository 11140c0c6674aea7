"""Faults: a server killed and restarted, drained by SIGTERM, a link cut mid-frame, slow
clients, a full queue. Each scenario returns a :class:`Scenario` with counts and a verdict.

    python -m reliability.faults                 # every scenario, full size
    python -m reliability.faults --only kill,link --images 400

What each one proves:

- ``kill``: ``splitinfer serve`` SIGKILLed while two edge runners (HTTP and gRPC) stream
  test images, then restarted on the same ports. Every image gets exactly one result
  (request ids 0..N-1, each once): answered by the server (split), or computed on the
  device after the retries failed (mobile-only fallback, flagged). Predictions equal the
  in-process split (answered) or full network (fallback).
- ``drain``: SIGTERM with requests admitted and waiting in the batcher: they complete
  (200 / OK, right answers); new gRPC calls get UNAVAILABLE, new HTTP requests 503 or a
  refused connection, until the process exits with SIGTERM's status. A request whose
  body was still uploading gets a clean 503 (it was not admitted), never a cut connection.
- ``link``: the link emulator (:class:`splitinfer.net.LinkShaper`) in front of a proxy
  that cuts every k-th request mid-frame (or mid-answer) with a TCP reset: the edge runner
  sees a clean transport error and retries; every image is answered once, no fallback.
- ``slow``: byte-at-a-time bodies get 504 at ``request_timeout_s``; byte-at-a-time request
  heads and silent gRPC connections are closed at the deadline; ordinary requests keep
  being served meanwhile.
- ``shed``: a burst beyond ``max_queue`` is shed with 503 + ``Retry-After`` (gRPC:
  UNAVAILABLE) at once, then the server serves normally again, and an edge runner that
  retries on 503 gets every image answered exactly once.
"""

from __future__ import annotations

from reliability.faults.command import SCENARIOS, main, run_all
from reliability.faults.common import RunnerLog, Scenario, check_exactly_once
from reliability.faults.drain import drain, queue_depth
from reliability.faults.kill import kill_and_restart
from reliability.faults.link import link_cut
from reliability.faults.shed import shed
from reliability.faults.slow import slow_clients

__all__ = [
    "SCENARIOS",
    "RunnerLog",
    "Scenario",
    "check_exactly_once",
    "drain",
    "kill_and_restart",
    "link_cut",
    "main",
    "queue_depth",
    "run_all",
    "shed",
    "slow_clients",
]
