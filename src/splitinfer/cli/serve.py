"""Command `serve`: run the cloud half (HTTP) for one or more bundles."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from splitinfer.errors import BadInput, MissingDependency


def load_settings(flags: dict[str, Any]) -> Any:
    """ServeSettings from the flags that were given, over ``SPLITINFER_*``, over defaults."""
    try:
        from pydantic import ValidationError

        from splitinfer.cloud.settings import ServeSettings
    except ImportError as err:
        raise MissingDependency(
            f"`serve` needs the server packages ({err.name}): pip install 'splitinfer[serve]'"
        ) from err
    given = {k: v for k, v in flags.items() if v is not None and v != [] and v is not False}
    try:
        settings = ServeSettings(**given)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise BadInput(f"invalid server settings: {problems}") from None
    settings.check()
    return settings


def register(app: Any, console: Console) -> None:
    """Add `serve` to ``app``."""

    @app.command("serve")
    def serve_cmd(
        bundle: list[Path] = typer.Option(
            None, "--bundle", help="bundle directory (repeatable; default: the shipped bundle)"
        ),
        host: str = typer.Option(None, help="address to bind (default: 127.0.0.1)"),
        port: int = typer.Option(None, help="TCP port (default: 8000)"),
        grpc_port: int = typer.Option(None, help="also serve gRPC on this port (default: off)"),
        max_batch: int = typer.Option(None, help="most requests per model run (default: 16)"),
        max_wait_ms: float = typer.Option(
            None, help="ms to wait for a batch to fill (default: 0: batch what queued up)"
        ),
        max_queue: int = typer.Option(None, help="most waiting requests, then 503 (default: 256)"),
        torch_threads: int = typer.Option(None, help="torch threads of the worker"),
        token: str = typer.Option(
            None, help="bearer token clients must send (prefer env SPLITINFER_TOKEN)"
        ),
        insecure: bool = typer.Option(
            False, "--insecure", help="allow a non-loopback bind without a token"
        ),
        tls_cert: Path = typer.Option(None, help="PEM certificate: serve HTTPS"),
        tls_key: Path = typer.Option(None, help="PEM private key for --tls-cert"),
        log_level: str = typer.Option(None, help="uvicorn log level (default: info)"),
        workers: int = typer.Option(None, help="server processes sharing the ports (default: 1)"),
        request_timeout_s: float = typer.Option(
            None, help="deadline to receive and to answer a request (default: 30 s)"
        ),
        no_ui: bool = typer.Option(
            False, "--no-ui", help="do not serve the edge page (/edge/) and monitor (/ui/)"
        ),
        use_ray: bool = typer.Option(
            False,
            "--ray",
            help="run as a Ray Serve deployment (HTTP only; needs the ray extra of splitinfer)",
        ),
        address: str = typer.Option(None, help="--ray: Ray cluster address (default: local)"),
        replicas: int = typer.Option(1, min=1, help="--ray: number of replicas"),
        cpus_per_replica: float = typer.Option(1.0, min=0.01, help="--ray: CPUs per replica"),
    ) -> None:
        """Serve bundles over HTTP (POST /v1/bundles/{id}/infer); SIGTERM drains first.

        Every option can also come from the environment: SPLITINFER_HOST, SPLITINFER_TOKEN,
        SPLITINFER_BUNDLES='["path"]', ... Binding beyond loopback needs a token.
        """

        default_note = ""
        if not bundle and "SPLITINFER_BUNDLES" not in os.environ:
            from splitinfer.bundle import default_bundle_path

            bundle = [default_bundle_path()]
            default_note = f"no --bundle given: serving the shipped bundle {bundle[0].name}; "
        settings = load_settings(
            {
                "bundles": bundle, "host": host, "port": port, "grpc_port": grpc_port,
                "max_batch": max_batch,
                "max_wait_ms": max_wait_ms, "max_queue": max_queue,
                "torch_threads": torch_threads, "token": token, "insecure": insecure,
                "tls_cert": tls_cert, "tls_key": tls_key, "log_level": log_level,
                "request_timeout_s": request_timeout_s, "workers": workers,
            }
        )  # fmt: skip
        if no_ui:
            settings = settings.model_copy(update={"ui": False})
        if use_ray:
            _serve_on_ray(console, settings, address, replicas, cpus_per_replica)
            # Serve and Ray are stopped and the metrics directory is gone, but the
            # interpreter's teardown of Ray's core worker (C++, after all Python code) took
            # 4-6 s more here: everything is done, so leave now.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        from splitinfer.cloud.server import run_server

        scheme = "https" if settings.tls_cert else "http"
        auth = "bearer token" if settings.token is not None else "NO auth"

        def announce() -> None:  # once every bundle is loaded and every port bound
            console.print(
                escape(
                    f"{default_note}serving {len(settings.bundles)} bundle(s) at "
                    f"{scheme}://{settings.host}:{settings.port} ({auth}, max batch "
                    f"{settings.max_batch}, max wait {settings.max_wait_ms:g} ms)"
                    + (
                        f"; gRPC on port {settings.grpc_port}"
                        if settings.grpc_port is not None
                        else ""
                    )
                ),
                soft_wrap=True,
            )
            if settings.ui:
                base = f"{scheme}://{settings.host}:{settings.port}"
                hint = "  (add ?access_token=TOKEN)" if settings.token else ""
                console.print(escape(f"edge page {base}/edge/  monitor {base}/ui/{hint}"))

        run_server(settings, announce)


def _serve_on_ray(
    console: Console, settings: Any, address: str | None, replicas: int, cpus: float
) -> None:
    """Deploy on Ray Serve and block until Ctrl-C / SIGTERM, then shut Ray down."""
    from splitinfer.cloud.metrics import metrics_dir
    from splitinfer.errors import BadInput

    if settings.grpc_port is not None or settings.tls_cert is not None:
        raise BadInput("--ray serves plain HTTP behind Ray's proxy: drop --grpc-port / --tls-*")
    token = settings.token.get_secret_value() if settings.token is not None else None
    with metrics_dir() as path:  # the replicas' summed metrics; removed when they stop
        _run_on_ray(console, settings, address, replicas, cpus, token, path)


def _run_on_ray(
    console: Console,
    settings: Any,
    address: str | None,
    replicas: int,
    cpus: float,
    token: str | None,
    metrics_path: str,
) -> None:
    import signal
    import threading
    import time

    from splitinfer.cloud import ray as ray_serve

    stop = threading.Event()

    def on_sigterm(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)  # a SIGTERM while Ray starts still stops it
    try:
        ray_serve.run(
            [str(p) for p in settings.bundles], address=address, host=settings.host,
            port=settings.port, replicas=replicas, cpus_per_replica=cpus,
            settings={"max_batch": settings.max_batch, "max_wait_ms": settings.max_wait_ms,
                      "max_queue": settings.max_queue, "torch_threads": settings.torch_threads,
                      "token": token},
            metrics_dir=metrics_path,
        )  # fmt: skip
        # Ray's core worker installs its own SIGTERM handler (log, then die at once, with
        # nothing drained and Ray's processes left behind): put ours back over it.
        signal.signal(signal.SIGTERM, on_sigterm)
        console.print(
            escape(
                f"Ray Serve: {replicas} replica(s) serving {len(settings.bundles)} bundle(s) at "
                f"http://{settings.host}:{settings.port} "
                f"({'bearer token' if token else 'NO auth'})"
            )
        )
        # Ray's threads may take the signal; then it reaches Python only when the main
        # thread runs again, so wake up often rather than block on the event for good.
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        start = time.perf_counter()
        ray_serve.shutdown()
        console.print(f"Ray Serve shut down in {time.perf_counter() - start:.1f} s")
