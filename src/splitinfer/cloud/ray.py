"""Scale-out: the same DataPlane and HTTP app as a Ray Serve deployment.

Each replica loads the bundles, owns one :class:`~splitinfer.cloud.dataplane.DataPlane`
(so dynamic batching happens inside the replica, exactly as in ``splitinfer serve``) and
serves the very FastAPI app of :mod:`splitinfer.cloud.http` behind Ray Serve's HTTP proxy;
Ray adds replicas and routes requests among them. Python callers can skip HTTP and use the
deployment handle's ``infer(frame, bundle_id)``.

We batch in the DataPlane rather than with ``@serve.batch``: the DataPlane already groups
concurrent frames per bundle on the worker that owns torch, and keeping one batching path
means one set of tests and metrics for both deployments.

Metrics: with ``metrics_dir``, every replica writes its metrics there
(``PROMETHEUS_MULTIPROC_DIR``, set for the replicas alone through their runtime env), so
``/metrics``, whichever replica answers it, adds up all replicas on that node. On a
cluster of several nodes each node's replicas share their own directory: scrape Ray's
metrics (``ray_serve_*``) for cluster-wide totals (docs/server.md).

Shutdown: replicas get :data:`GRACE_S` to finish what they hold (Ray Serve's graceful
shutdown), then Serve and Ray stop; ``serve --ray`` does this on SIGTERM.

    ray start --head                       # once, on the head node of a cluster
    splitinfer serve --ray --address auto --replicas 4 --bundle bundles/fmnist-r10-stage3-l005
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from splitinfer.errors import BadInput, require

GRACE_S = 5.0
"""Ray Serve's graceful shutdown timeout per replica: in-flight requests get this long."""


class SplitInferReplica:
    """One Ray Serve replica: bundles + DataPlane + the HTTP app, as an ASGI callable."""

    def __init__(self, bundle_paths: Sequence[str], settings: dict[str, Any]) -> None:
        from splitinfer.bundle import Bundle
        from splitinfer.cloud.dataplane import DataPlane
        from splitinfer.cloud.http import create_app
        from splitinfer.cloud.metrics import shared_dir

        if (path := shared_dir()) is not None:
            os.makedirs(path, exist_ok=True)  # a replica on another node than the driver
        bundles = [Bundle.load(p) for p in bundle_paths]
        self.dataplane = DataPlane(
            bundles,
            max_batch=settings.get("max_batch", 16),
            max_wait_ms=settings.get("max_wait_ms", 0.0),
            max_queue=settings.get("max_queue", 256),
            torch_threads=settings.get("torch_threads"),
        )
        self.app = create_app(self.dataplane, token=settings.get("token"))

    async def infer(self, frame: bytes, bundle_id: str | None = None) -> dict[str, Any]:
        """Handle API: one frame in, the result as JSON (typed errors propagate)."""
        result = await self.dataplane.infer(frame, bundle_id)
        return result.to_json()

    async def __call__(self, request: Any) -> Any:
        """Ray Serve's HTTP entry: run the request through the FastAPI app unchanged
        (a head over the cap gets 431 first, as from ``splitinfer serve``)."""
        from starlette.responses import Response

        from splitinfer.cloud.http import MAX_HEAD_BYTES, error_response, head_bytes, head_too_large

        if head_bytes(request.scope) > MAX_HEAD_BYTES:
            return error_response(head_too_large(MAX_HEAD_BYTES))

        messages: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        await self.app(request.scope, request.receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
        headers.pop("content-length", None)
        return Response(body, status_code=start["status"], headers=headers)


def deployment(
    bundle_paths: Sequence[str | Path],
    *,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    settings: dict[str, Any] | None = None,
    metrics_dir: str | None = None,
) -> Any:
    """The bound Ray Serve application (pass it to ``serve.run``); with ``metrics_dir``
    the replicas' metrics are summed there (see the module docstring)."""
    require("ray", "ray")
    from ray import serve

    if replicas < 1 or cpus_per_replica <= 0:
        raise BadInput("replicas must be >= 1 and cpus_per_replica > 0")
    paths = [str(Path(p).resolve()) for p in bundle_paths]
    if not paths:
        raise BadInput("no bundle to serve: pass --bundle PATH")
    for p in paths:
        if not Path(p).is_dir():
            raise BadInput(f"bundle {p} is not a directory")
    actor: dict[str, Any] = {"num_cpus": cpus_per_replica}
    if metrics_dir is not None:
        from splitinfer.cloud.metrics import MULTIPROC_ENV

        actor["runtime_env"] = {"env_vars": {MULTIPROC_ENV: metrics_dir}}
    cls = serve.deployment(
        name="splitinfer",
        num_replicas=replicas,
        ray_actor_options=actor,
        graceful_shutdown_timeout_s=GRACE_S,
        graceful_shutdown_wait_loop_s=0.2,
    )(SplitInferReplica)
    return cls.bind(paths, dict(settings or {}))


def run(
    bundle_paths: Sequence[str | Path],
    *,
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    replicas: int = 1,
    cpus_per_replica: float = 1.0,
    settings: dict[str, Any] | None = None,
    num_cpus: int | None = None,
    metrics_dir: str | None = None,
) -> Any:
    """Start (or join, with ``address``) Ray, start Serve's HTTP proxy and deploy.

    Returns the deployment handle. Call :func:`shutdown` when done.
    """
    require("ray", "ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    app = deployment(
        bundle_paths,
        replicas=replicas,
        cpus_per_replica=cpus_per_replica,
        settings=settings,
        metrics_dir=metrics_dir,
    )
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    return serve.run(app, name="splitinfer", route_prefix="/")


def shutdown() -> None:
    """Drain, then stop Serve and Ray (idempotent).

    The application is deleted first, while Serve's HTTP proxy still runs: its replicas
    stop taking requests and get :data:`GRACE_S` to answer those they hold, and the
    answers still reach their clients through the proxy. Then Serve and Ray stop.
    """
    import ray
    from ray import serve

    if ray.is_initialized():
        with contextlib.suppress(Exception):  # no such app (never deployed): nothing to drain
            serve.delete("splitinfer")
        serve.shutdown()
        ray.shutdown()
