"""``python -m splitinfer.demo serve|link-worker ...``: the main of the demo's child
processes (started by :class:`splitinfer.demo.processes.ServerProcess` and
:class:`~splitinfer.demo.processes.LinkWorker`)."""

from __future__ import annotations

import contextlib
import sys

from splitinfer.demo.processes import link_worker_main, serve_child
from splitinfer.device.emulation import METHODS


def _child_main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m splitinfer.demo")
    parser.add_argument("role", choices=["serve", "link-worker"])
    parser.add_argument("--fd", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--ui", action="store_true")
    parser.add_argument("--device", default="host")
    parser.add_argument("--device-method", default="cgroup", choices=list(METHODS))
    args = parser.parse_args(argv)
    if args.role == "serve":
        serve_child(args.fd, args.bundle, args.torch_threads, ui=args.ui)
    else:
        link_worker_main(
            args.bundle,
            args.port,
            args.warmup,
            args.timeout,
            args.torch_threads,
            args.device,
            args.device_method,
        )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        _child_main(sys.argv[1:])
