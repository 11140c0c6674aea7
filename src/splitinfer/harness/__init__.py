"""The harness that tests, benchmarks, experiments and reliability runs share.

- :mod:`~splitinfer.harness.server`: start ``splitinfer serve`` as a subprocess, wait for
  readiness, stop it (SIGTERM, then SIGKILL); free loopback ports.
- :mod:`~splitinfer.harness.rawhttp`: raw HTTP/1.1 (exact bytes on a socket; a minimal
  keep-alive asyncio connection for load).
- :mod:`~splitinfer.harness.workload`: frames with known answers through a bundle.
- :mod:`~splitinfer.harness.load`: the closed-loop load client, every answer checked.

It talks to servers over the wire only, as processes: it never imports cloud or edge
internals (the gRPC stubs aside, until they move to a protocol package).
"""
