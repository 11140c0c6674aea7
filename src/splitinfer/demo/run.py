"""The whole demo: :func:`run_demo` starts the server and the link workers, measures, and
sets the planner's predictions beside the measurements."""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from splitinfer.bundle import Bundle
from splitinfer.demo.config import MODES, DemoConfig, ProgressFn
from splitinfer.demo.measure import accuracy_counts, measure_compute, merge_accuracy
from splitinfer.demo.planner import planner_inputs, predict
from splitinfer.demo.processes import Event, LinkWorker, ServerProcess, _Child, _Jobs
from splitinfer.demo.results import DemoResults, LinkRun
from splitinfer.errors import BadInput
from splitinfer.timing import host_info, load_average


def _load_inputs(cfg: DemoConfig) -> tuple[Bundle, torch.Tensor, torch.Tensor]:
    from splitinfer.data import load_fashion_mnist

    bundle = Bundle.load(cfg.bundle_path)
    x, y = load_fashion_mnist("test")
    if tuple(bundle.spec.input_shape) != tuple(x.shape[1:]):
        raise BadInput(
            f"the demo streams Fashion-MNIST ({'x'.join(map(str, x.shape[1:]))}) but bundle "
            f"{bundle.spec.id} takes {'x'.join(map(str, bundle.spec.input_shape))}"
        )
    return bundle, x, y


def _bundle_info(bundle: Bundle, path: Path) -> dict[str, Any]:
    s = bundle.spec
    return {
        "id": s.id, "path": str(path), "model": s.model, "cut": s.cut,
        "unit": s.unit.to_dict() if s.unit else None, "codec": s.codec,
        "fingerprint": f"{bundle.fingerprint:08x}", "feature_shape": list(bundle.feature_shape),
        "input_shape": list(s.input_shape), "built_by": s.built_by,
    }  # fmt: skip


def _machine() -> dict[str, Any]:
    return {**host_info(), "load_avg_start": load_average()}


def _offline_predictions(bundle: Bundle, x: torch.Tensor) -> dict[str, list[int]]:
    """Each mode's predictions for ``x`` in-process, to check the online ones against."""
    with torch.no_grad():
        full = bundle.unsplit(bundle.spec.preprocess(x)).argmax(1).tolist()
        decoded = torch.cat([bundle.cloud.decode(f)[1] for f in bundle.edge.encode(x)])
        split = bundle.cloud.run(decoded).argmax(1).tolist()
    return {"cloud-only": full, "mobile-only": full, "split": split}


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch threads as the children use them while timing; restored on exit."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _Clock:
    """Wall and CPU seconds per phase; CPU counts this process and its children."""

    def __init__(self, tell: ProgressFn) -> None:
        self.tell = tell
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.children: list[_Child] = []
        self._t0 = time.perf_counter()

    def _cpu(self) -> float:
        return time.process_time() + sum(c.cpu_seconds() for c in self.children)

    @contextlib.contextmanager
    def phase(self, name: str, announce: bool = True) -> Iterator[None]:
        if announce:
            self.tell(name, 0, None)
        t, c = time.perf_counter(), self._cpu()
        yield
        self.wall[name] = round(time.perf_counter() - t, 2)
        self.cpu[name] = round(self._cpu() - c, 2)
        if announce:
            self.tell(name, 1, 1)

    def total(self) -> float:
        return round(time.perf_counter() - self._t0, 2)


def run_demo(
    config: DemoConfig,
    progress: ProgressFn | None = None,
    log_dir: Path | None = None,
    on_server: Callable[[str], None] | None = None,
) -> DemoResults:
    """Run the demo (see :mod:`splitinfer.demo`); ``log_dir`` receives the children's logs.

    Phases: load; stage times in-process (before any child starts, on a quiet process);
    accuracy (the test split in slices, one here and one per link worker, while the
    server and the workers start); the links (one
    worker per link, in parallel, or one worker for all with ``parallel_links=False``).
    """
    from splitinfer.net import LinkSettings

    config.check()
    tell: ProgressFn = progress or (lambda _t, _d, _n: None)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = _machine()
    clock = _Clock(tell)
    links = [
        LinkSettings.from_profile(name, burst_bytes=config.burst_bytes, trace=config.trace)
        for name in config.links
    ]
    for settings in links:
        settings.schedule()  # a bad trace fails here, naming its line, before any start-up
    with clock.phase("load"):
        bundle, x, y = _load_inputs(config)
    n = config.images
    images, labels = x[:n], y[:n]
    # in-process stage times before any child starts: the model-only planner adds this
    # machine's probed per-request constant to them, which was measured the same way
    with clock.phase("compute"), _torch_threads(config.torch_threads):
        compute = measure_compute(bundle, x)
        offline = _offline_predictions(bundle, images)
    n_acc = config.accuracy_images or len(x)
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)

    def log(name: str) -> Path | None:
        return log_dir / f"{name}.log" if log_dir else None

    events: queue.Queue[Event] = queue.Queue()
    # the longest a worker may stay silent: loading, a slice's batch, or one image's paths
    silence = 5 * (max(config.warmup, 1) + 1) * config.request_timeout_s + 60
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(
            ServerProcess(config.bundle_path, log("server"), config.torch_threads, config.ui)
        )
        # (link, share): a link slower than the budget is measured by several devices
        shares = [
            (spec, s, k)
            for spec, s in zip(config.links, links, strict=True)
            for k in range(config.devices_for(s.rtt_ms))
        ]
        n_workers = len(shares) if config.parallel_links else 1
        workers = [
            stack.enter_context(
                LinkWorker(f"worker-{i}", config.bundle_path, srv.port, config, events,
                           log(f"worker-{i}"))
            )
            for i in range(n_workers)
        ]  # fmt: skip
        clock.children = [srv, *workers]
        with clock.phase("accuracy", announce=False), _torch_threads(config.torch_threads):
            jobs = _Jobs(events, tell, "accuracy", 2 * n_acc, silence)
            bounds = np.linspace(0, n_acc, n_workers + 2).astype(int)
            for i, w in enumerate(workers):
                lo, hi = bounds[i + 1], bounds[i + 2]
                jobs.submit(w, f"accuracy-{i}", x[lo:hi], y[lo:hi])
            own = accuracy_counts(bundle, x[: bounds[1]], y[: bounds[1]], progress=jobs.own)
            accuracy = merge_accuracy([own, *jobs.wait().values()], bundle.baseline_label)
        with clock.phase("start"):
            srv.wait_ready(config.server_start_timeout_s)
            if on_server is not None:
                on_server(srv.url)
        with clock.phase("probe", announce=False), _torch_threads(config.torch_threads):
            probe = _probe(config, bundle, srv.port, images, labels, compute, tell)
        with clock.phase("links", announce=False):
            jobs = _Jobs(events, tell, "links", len(links) * n, silence)
            names: dict[str, list[str]] = {spec: [] for spec in config.links}
            for i, (spec, settings, k) in enumerate(shares):
                n_dev = config.devices_for(settings.rtt_ms)
                lo, hi = n * k // n_dev, n * (k + 1) // n_dev
                names[spec].append(f"{spec}#{k}")
                jobs.submit(workers[i % n_workers], names[spec][-1], images[lo:hi],
                            labels[lo:hi], settings)  # fmt: skip
            done = jobs.wait()
            runs = []
            for spec in config.links:
                run = LinkRun.merge([LinkRun.from_json(done[j]) for j in names[spec]])
                runs.append(dataclasses.replace(run, link=spec))
        clock.children = []
    for path in [p for c in (srv, *workers) if (p := c.log_path) and p.is_file()]:
        if path.stat().st_size == 0:  # nothing to say: no clutter
            path.unlink()

    with clock.phase("planner", announce=False):
        inputs = {lr.link: planner_inputs(compute, lr.loopback, probe) for lr in runs}
        predictions: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
            "wire_only": {}, "calibrated": {}, "energy": {},
        }  # fmt: skip
        for spec_name, lr in zip(config.links, runs, strict=True):
            for kind in ("wire_only", "calibrated"):
                predictions[kind][lr.link] = predict(
                    bundle, compute, inputs[lr.link][kind], spec_name
                )
            predictions["energy"][lr.link] = predict(
                bundle, compute, inputs[lr.link]["calibrated"], spec_name, config.device
            )
    agreement = {
        lr.link: {
            m: sum(a == b for a, b in zip(lr.modes[m].predictions, offline[m], strict=True))
            for m in MODES
        }
        for lr in runs
    }
    machine["load_avg_end"] = load_average()
    results = DemoResults(
        config=config, machine=machine, bundle=_bundle_info(bundle, config.bundle_path),
        accuracy=accuracy, compute=compute, links=runs,
        predictions=predictions, planner_inputs=inputs,
        phases={**clock.wall, "total": clock.total()}, cpu_seconds=clock.cpu,
        started=started, agreement=agreement,
    )  # fmt: skip
    results.notes = _notes(results)
    return results


def _probe(
    config: DemoConfig, bundle: Bundle, port: int, images: torch.Tensor, labels: torch.Tensor,
    compute: dict[str, Any], tell: ProgressFn,
) -> dict[str, Any]:  # fmt: skip
    """This machine's stored probe; without one, probed now against the demo's server (quiet:
    before the links) and stored, as `splitinfer plan --probe` would."""
    from splitinfer.demo.probe import probe_against
    from splitinfer.plan.protocol import load_probe, probe_path, save_probe

    path = Path(config.probe) if config.probe else probe_path()
    stored = load_probe(path)
    if stored is not None:
        return stored
    tell("probe (fixed per-request ms, once per machine)", 0, None)
    data = probe_against(bundle, port, images[:100], labels[:100], compute)
    save_probe(path, {**data, "command": "splitinfer demo (no stored probe)"})
    return data


def _notes(r: DemoResults) -> list[str]:
    notes = []
    cores = r.machine.get("cores") or 1
    for when, key in (("start", "load_avg_start"), ("end", "load_avg_end")):
        load = r.machine.get(key) or (0.0,)
        if load[0] > cores:
            notes.append(
                f"timings unreliable: load average {load[0]:g} on {cores} cores at the {when} "
                "(other work shares the CPU); rerun on a quieter machine"
            )
    for link, agree in r.agreement.items():
        for m, k in agree.items():
            if k != r.config.images:
                notes.append(
                    f"{link} {m}: {r.config.images - k} of {r.config.images} online predictions "
                    "differ from the offline path on the same images"
                )
    png = r.accuracy["cloud-only"].get("png_not_lossless", 0)
    if png:
        notes.append(f"PNG round trip changed {png} test images (ran the baseline on them)")
    return notes
