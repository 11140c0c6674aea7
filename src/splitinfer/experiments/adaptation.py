"""Run-time adaptation: the shipped link traces, an emulated device, the multi-rate bundle.

For each trace in ``traces/`` and each device, one request every ``interval_s`` of trace
time runs through a real :class:`~splitinfer.edge.EdgeRunner` with the multi-rate bundle:

* **the edge's work is real** (head + reduction + framing, the PNG, or the whole network),
  run under the device's cgroup CPU quota (:mod:`splitinfer.device`) where this host
  allows it, else at host speed and labelled so;
* **the server's work is real** (frame decode + the cloud half, or the PNG + the unsplit
  network), run in process on this host, out of the device's quota, and timed;
* **the network is replayed, not slept**: a trace-replay transport computes the time the
  request's bytes (body + HTTP protocol bytes, :mod:`splitinfer.plan.protocol`) take over
  the trace's capacity curve from the request's trace time (a drop-out holds the bytes
  until capacity returns), plus the trace's RTT, plus one RTT per lost segment
  (:func:`splitinfer.net.trace.loss_penalty`, seeded per request so every policy meets
  the same losses). The traces are thus time-compressed: a 240 s trace runs in seconds.
  Requests are independent (no queueing between them): a periodic sensing app.

The policies run interleaved, request by request (:func:`run_policies`), so host noise
falls on all of them alike. Compared on identical request times, images and losses:
``adaptive`` (mode ``auto`` with
re-planning and rate switching, the runner's own passive estimate), each fixed mode and
rate, and the ``oracle``: per ``oracle_window_s`` window, the fixed choice within the
accuracy budget with the lowest mean latency in that window, computed offline from the
fixed runs' measurements. Accuracy is measured on the run (Fashion-MNIST test labels).
Energy is MODELED from the device profile: P_active x device compute + P_idle x waiting.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from splitinfer.bundle import Bundle
from splitinfer.edge import EdgeRunner, Reply
from splitinfer.edge.transport import Answers
from splitinfer.experiments.config import AdaptationConfig, BenchConfig
from splitinfer.experiments.result import Column, Result, figure, table
from splitinfer.net.trace import LinkTrace, load_trace, loss_penalty

NAME = "adaptation"
TITLE = "Run-time adaptation over link traces: adaptive vs fixed choices vs an oracle"

ADAPTIVE, ORACLE = "adaptive", "oracle"
#: adaptive's choices, each priced at the fixed run's measurement of that request and choice
PAIRED = "adaptive (paired)"
Log = Callable[[str], None]


@dataclass
class Record:
    """One request of one policy: when, what ran, what it cost."""

    index: int
    t_s: float
    choice: str  # mode, or split@K
    latency_ms: float  # device work + network + server (the network replayed)
    device_ms: float  # head / PNG / whole network on the (emulated) device
    wait_ms: float  # network + server
    energy_mj: float  # MODELED
    correct: bool | None
    request_id: int


class TraceReplay:
    """A transport answering at once: the server's work run here and timed, the network
    time computed over ``trace`` from the trace time :attr:`t_s` the driver sets."""

    name, url, sends_images = "http", "trace-replay://", True

    def __init__(self, bundle: Bundle, trace: LinkTrace, seed: str, emulation: Any = None) -> None:
        from splitinfer.plan.protocol import TRANSPORTS

        self.bundle, self.trace, self.seed = bundle, trace, seed
        #: the server's work runs at host speed: out of the device's CPU quota, which the
        #: runner's thread joins on its first device work and stays in
        self.outside: Callable[[], Any] = (
            emulation.outside if emulation is not None else contextlib.nullcontext
        )
        self.proto = TRANSPORTS["http"]
        self.t_s, self.index = 0.0, 0
        self.sent: Counter[int] = Counter()  # attempts per request id
        self.pings = 0

    def network_ms(
        self, up_bytes: float, down_bytes: float, server_ms: float, salt: str = ""
    ) -> float:
        """The replayed network time of one exchange starting at :attr:`t_s`."""
        tr, t = self.trace, self.t_s
        rng = random.Random(f"{self.seed}/{self.index}{salt}")
        rtt_s = tr.up.rtt_ms.at(t) / 1e3
        up = tr.up.capacity
        done = up.time_for(up.bytes_by(t) + up_bytes)
        done += loss_penalty(int(up_bytes), tr.up.loss.at(t), rtt_s, rng)[1]
        back = done + rtt_s / 2 + server_ms / 1e3
        down = tr.down.capacity
        end = down.time_for(down.bytes_by(back) + down_bytes)
        end += loss_penalty(int(down_bytes), tr.down.loss.at(back), rtt_s, rng)[1]
        return (end + rtt_s / 2 - t) * 1e3 - server_ms

    def _reply(self, request_id: int, up_bytes: int, run: Callable[[], torch.Tensor]) -> Reply:
        self.sent[request_id] += 1
        with self.outside():
            t0 = time.perf_counter()
            with torch.no_grad():
                top = int(run().argmax(1)[0])
            server_ms = (time.perf_counter() - t0) * 1e3
        down = self.proto.down
        net = self.network_ms(up_bytes + self.proto.up, down, server_ms)
        name = self.bundle.spec.classes[top]
        return Reply(request_id, top, name, server_ms, net + server_ms, int(down))

    def infer_frame(self, bundle_id: str, frame: bytes) -> Reply:
        cloud = self.bundle.cloud

        def run() -> torch.Tensor:
            header, z = cloud.decode(frame)
            return cloud.run(z, header.rate or 0)

        from splitinfer import wire

        return self._reply(wire.decode_frame(frame)[0].request_id, len(frame), run)

    def infer_image(self, bundle_id: str, image: bytes, request_id: int) -> Reply:
        def run() -> torch.Tensor:
            import numpy as np
            from PIL import Image

            with Image.open(io.BytesIO(image)) as im:
                a = np.asarray(im.convert("L"), dtype=np.uint8).copy()
            x = torch.from_numpy(a).view(1, 1, *a.shape)
            return self.bundle.unsplit(self.bundle.spec.preprocess(x))

        return self._reply(request_id, len(image), run)

    def ping(self) -> float:
        """A ping after the current request: :data:`~splitinfer.plan.protocol.HTTP_PING`'s
        bytes over the trace from :attr:`t_s` (its own loss draws), no server work."""
        from splitinfer.plan.protocol import HTTP_PING

        self.pings += 1
        return self.network_ms(HTTP_PING.up, HTTP_PING.down, 0.0, salt="/ping")

    def stream(self, bundle_id: str, frames: Sequence[tuple[int, bytes]]) -> Answers:
        for _, frame in frames:
            reply = self.infer_frame(bundle_id, frame)
            yield reply.request_id, reply

    def close(self) -> None:
        pass


def fixed_choices(bundle: Bundle) -> list[tuple[str, str, int]]:
    """(label, mode, rate) of every fixed choice: split at each rate point, cloud-only,
    mobile-only."""
    split = [
        (f"split@{k}" if bundle.multirate else "split", "split", k)
        for k in range(bundle.rate_count)
    ]
    return [*split, ("cloud-only", "cloud-only", 0), ("mobile-only", "mobile-only", 0)]


def point_losses(bundle: Bundle) -> dict[str, float]:
    """Accuracy loss (pp, measured when the bundle was built) of each choice's label."""
    from splitinfer.plan.ratepoints import ratepoints_for

    points = ratepoints_for(bundle.spec)["points"]
    out = {
        (f"split@{k}" if bundle.multirate else "split"): float(p["accuracy_loss"] or 0.0)
        for k, p in enumerate(points)
    }
    return {**out, "cloud-only": 0.0, "mobile-only": 0.0}


@dataclass
class Policy:
    """One policy's runner over its own replayed link: ``mode`` (and ``rate``) every time."""

    runner: EdgeRunner
    link: TraceReplay
    mode: str
    rate: int = 0


def run_policies(
    policies: dict[str, Policy],
    times: Sequence[float],
    images: torch.Tensor,
    labels: torch.Tensor | None,
    power: tuple[float, float],
    rest_s: float = 0.0,
) -> dict[str, list[Record]]:
    """Every request of every policy over one trace, **interleaved**: request i of each
    policy runs back to back (the order rotated by one per request), so that what the
    host does meanwhile (other load, CPU frequency, a busy sibling thread) falls on every
    policy alike and the comparison is paired, not between runs minutes apart.

    ``rest_s`` (the emulated device's CFS period): idle before each request, so every
    request starts with the period's quota unspent, as on a device that idles between
    periodic requests, whatever the request before it (of any policy) used up."""
    out: dict[str, list[Record]] = {label: [] for label in policies}
    labels_in_order = list(policies)
    for i, t in enumerate(times):
        k = i % len(labels_in_order)
        for label in labels_in_order[k:] + labels_in_order[:k]:
            if rest_s > 0:
                time.sleep(rest_s)
            p = policies[label]
            out[label].append(_request(p, i, t, images, labels, power))
    return out


def run_policy(
    runner: EdgeRunner,
    link: TraceReplay,
    times: Sequence[float],
    images: torch.Tensor,
    labels: torch.Tensor | None,
    power: tuple[float, float],
    mode: str,
    rate: int = 0,
) -> list[Record]:
    """Every request of one policy over one trace."""
    one = {"policy": Policy(runner, link, mode, rate)}
    return run_policies(one, times, images, labels, power)["policy"]


def _request(
    p: Policy, i: int, t: float, images: torch.Tensor, labels: torch.Tensor | None,
    power: tuple[float, float],
) -> Record:  # fmt: skip
    p.link.t_s, p.link.index = t, i
    r = p.runner.infer(images[i % len(images)], p.mode, p.rate)  # type: ignore[arg-type]
    device_ms = r.head_ms + r.encode_ms
    wait_ms = r.network_ms + r.server_ms
    choice = r.mode if r.mode != "split" or r.rate is None else f"split@{r.rate}"
    correct = None if labels is None else r.prediction == int(labels[i % len(labels)])
    energy = power[0] * device_ms + power[1] * wait_ms  # W x ms = mJ
    return Record(i, t, choice, device_ms + wait_ms, device_ms, wait_ms, energy, correct,
                  r.request_id)  # fmt: skip


def paired(adaptive: list[Record], fixed: dict[str, list[Record]]) -> list[Record]:
    """Adaptive's choices priced on the fixed runs' measurements: request i at the latency
    (and device work, energy, answer) the fixed run of adaptive's choice measured for
    request i. The oracle is computed from the same records, so adaptive against it is
    decision against decision, without the noise of two timings of the same work."""
    return [fixed[r.choice][r.index] if r.choice in fixed else r for r in adaptive]


def oracle(
    fixed: dict[str, list[Record]], allowed: Sequence[str], window_s: float
) -> tuple[list[Record], list[str]]:
    """Per window, the allowed fixed choice with the lowest mean latency there: its records,
    and the choice of each window."""
    n = len(next(iter(fixed.values())))
    out: list[Record] = []
    picks: list[str] = []
    i = 0
    while i < n:
        w = math.floor(fixed[allowed[0]][i].t_s / window_s)
        j = i
        while j < n and math.floor(fixed[allowed[0]][j].t_s / window_s) == w:
            j += 1
        best = min(allowed, key=lambda c: statistics.fmean(r.latency_ms for r in fixed[c][i:j]))
        picks.append(best)
        out.extend(fixed[best][i:j])
        i = j
    return out, picks


def p95(values: Sequence[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]


def summarize(
    records: list[Record], switches: int, lost: int, dup: int, pings: int = 0
) -> dict[str, Any]:
    lat = [r.latency_ms for r in records]
    known = [r.correct for r in records if r.correct is not None]
    return {
        "requests": len(records),
        "mean_ms": statistics.fmean(lat),
        "p95_ms": p95(lat),
        "device_ms": statistics.fmean(r.device_ms for r in records),
        "energy_mj": statistics.fmean(r.energy_mj for r in records),
        "accuracy": sum(known) / len(known) if known else None,
        "switches": switches,
        "pings": pings,
        "lost": lost,
        "duplicated": dup,
    }


def run(config: BenchConfig, out_dir: Path, log: Log | None = None) -> dict[str, Any]:
    """The experiment (see the module docstring); writes adaptation.json and the figures."""
    from splitinfer.device import for_bundle
    from splitinfer.edge.auto import measure_inputs
    from splitinfer.edge.replan import ReplanPolicy
    from splitinfer.experiments.subjects import resolve
    from splitinfer.experiments.wire_bytes import torch_threads
    from splitinfer.plan import device as device_profile
    from splitinfer.plan.protocol import HTTP_PING

    c: AdaptationConfig = config.adaptation
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))  # progress: ~5 min
    res = Result(NAME, TITLE, config=asdict(c))
    bundle = Bundle.load(resolve(c.bundle))
    images, labels = _images(c.images)
    choices = fixed_choices(bundle)
    losses = point_losses(bundle)
    budget = math.inf if c.budget is None else c.budget
    allowed = [label for label, _, _ in choices if losses[label] <= budget]
    rows: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    emulation_notes: set[str] = set()
    with torch_threads(1):
        inputs = measure_inputs(bundle, images[:16], repeats=c.profile_repeats,
                                warmup=1, sample_note="Fashion-MNIST test images")  # fmt: skip
        cases: dict[str, list[tuple[str, float]]] = {
            d: [(t, c.interval_s) for t in c.traces] for d in c.devices
        }
        for pair in c.extra:
            d, _, t = pair.rpartition("@")
            cases.setdefault(d, []).append((t, c.extra_interval_s))
        for device, traces in cases.items():
            profile = device_profile(device)
            power = (profile.active_w, profile.idle_w)
            emu = for_bundle(device, bundle, method=c.emulation) if c.emulate else None
            try:
                emulation_notes.add(f"{device}: {_emulation_note(emu)}")
                for trace_name, interval_s in traces:
                    trace = load_trace(resolve(c.trace_dir) / trace_name)
                    n = max(1, int(trace.duration_s / interval_s))
                    times = [i * interval_s for i in range(n)]
                    say(f"adaptation: {device} / {trace_name}: {n} requests x "
                        f"{len(choices) + 1} policies")  # fmt: skip
                    policies: dict[str, Policy] = {}
                    for label, mode, rate in choices:
                        link = TraceReplay(bundle, trace, trace_name, emu)
                        runner = EdgeRunner(bundle, link, device=emu, retries=0)
                        policies[label] = Policy(runner, link, mode, rate)
                    link = TraceReplay(bundle, trace, trace_name, emu)
                    runner = EdgeRunner(bundle, link, device=emu, retries=0)
                    policies[ADAPTIVE] = Policy(runner, link, "auto")
                    runner.plan_auto(
                        c.link, device, inputs=inputs, budget=c.budget,
                        accuracy_weight=c.accuracy_weight,
                        replan=ReplanPolicy(c.replan_threshold, c.replan_every, c.replan_margin,
                                            c.replan_hold, c.replan_skip_hopeless,
                                            c.replan_measured_device,
                                            step_hold=c.replan_step_hold,
                                            ping_every=c.replan_ping_every),
                    )  # fmt: skip
                    ran = run_policies(policies, times, images, labels, power, _rest_s(emu))
                    adaptive = ran.pop(ADAPTIVE)
                    fixed = ran
                    counts = {label: _lost_dup(fixed[label], policies[label].link, n)
                              for label in fixed}  # fmt: skip
                    orc, picks = oracle(fixed, allowed, c.oracle_window_s)
                    switches = len(policies[ADAPTIVE].runner.switches)
                    trace_rows = {
                        ADAPTIVE: summarize(adaptive, switches,
                                            *_lost_dup(adaptive, policies[ADAPTIVE].link, n),
                                            policies[ADAPTIVE].link.pings),
                        PAIRED: summarize(paired(adaptive, fixed), switches, 0, 0,
                                          policies[ADAPTIVE].link.pings),
                        ORACLE: summarize(orc, sum(a != b for a, b in itertools.pairwise(picks)),
                                          0, 0),
                        **{label: summarize(fixed[label], 0, *counts[label]) for label in fixed},
                    }  # fmt: skip
                    for policy, s in trace_rows.items():
                        rows.append({"device": device, "trace": trace_name, "policy": policy,
                                     "interval_s": interval_s,
                                     "within_budget": "yes" if policy in (ADAPTIVE, PAIRED, ORACLE)
                                     or policy in allowed else "no", **s})  # fmt: skip
                    verdicts.append(_verdict(device, trace_name, trace_rows, allowed, picks))
                    stem = f"adaptation-{_slug(device)}-{Path(trace_name).stem}.png"
                    _timeline(out_dir / stem, trace, adaptive, orc, device, trace_name)
                    res.figures.append(figure(
                        stem, f"{trace_name}, {device}: bandwidth, adaptive choice, latency",
                        "Top: the trace's uplink rate. Middle: the choice each adaptive "
                        "request ran. Bottom: latency per request, adaptive and oracle "
                        "(device work measured, network replayed over the trace).",
                        "measured",
                    ))  # fmt: skip
            finally:
                if emu is not None:
                    emu.close()
    columns = [
        Column("device", "device"), Column("trace", "trace"), Column("policy", "policy"),
        Column("requests", "requests", "measured"),
        Column("mean_ms", "mean latency", "measured", "ms"),
        Column("p95_ms", "p95 latency", "measured", "ms"),
        Column("device_ms", "of which device work", "measured", "ms"),
        Column("energy_mj", "device energy (MODELED)", "modeled", "mJ"),
        Column("accuracy", "accuracy (on the run)", "measured"),
        Column("switches", "switches", "measured"),
        Column("pings", "pings", "measured"),
        Column("lost", "lost", "measured"), Column("duplicated", "duplicated", "measured"),
        Column("within_budget", "within budget"),
    ]  # fmt: skip
    caption = (
        f"Bundle {bundle.spec.id}; one request every {c.interval_s:g} s of trace time "
        f"({c.extra_interval_s:g} s in the extra runs {c.extra}); "
        "device work measured (under the device's CPU quota where emulated), server work "
        "measured here, network time replayed over the trace (time-compressed, not slept). "
        f"Accuracy budget {c.budget} pp (rate points' measured losses); auto plans from link "
        f"{c.link!r} with its passive estimate, accuracy weight {c.accuracy_weight:g} ms/pp; "
        f"on the device it pings every {c.replan_ping_every} requests (0: never; each ping "
        f"{HTTP_PING.up:g} B up, {HTTP_PING.down:g} B down, after the request, off its latency). "
        f"Oracle: best fixed choice within budget per {c.oracle_window_s:g} s window, offline."
    )
    res.tables.append(table("adaptation", "Adaptive vs fixed vs oracle, per trace", columns,
                            rows, caption))  # fmt: skip
    res.data = {"verdicts": verdicts, "emulation": sorted(emulation_notes), "allowed": allowed}
    res.notes.extend(sorted(emulation_notes))
    res.notes.extend(v["line"] for v in verdicts)
    hit = [v for v in verdicts if v["within_10pct"]]
    res.summary = (
        f"adaptive within 10% of the oracle's mean latency on {len(hit)}/{len(verdicts)} "
        f"(device, trace) cases; better than every fixed choice within budget on "
        f"{sum(v['beats_every_fixed'] for v in verdicts)} case(s), of which "
        f"{sum(v['beats_every_fixed'] and not v['one_best'] for v in verdicts)} where no "
        "fixed choice is best throughout; lost/duplicated: "
        f"{sum(r['lost'] + r['duplicated'] for r in rows)}"
    )
    return res.save(out_dir)


def _verdict(
    device: str, trace: str, rows: dict[str, dict[str, Any]], allowed: Sequence[str],
    picks: Sequence[str],
) -> dict[str, Any]:  # fmt: skip
    """Judged on the paired figure (adaptive's choices on the fixed runs' measurements, as
    the oracle is); the measured one is in the line beside it."""
    a, o = rows[PAIRED]["mean_ms"], rows[ORACLE]["mean_ms"]
    measured = rows[ADAPTIVE]["mean_ms"]
    best_fixed = min(allowed, key=lambda k: rows[k]["mean_ms"])
    beats = all(a < rows[k]["mean_ms"] for k in allowed)
    one_best = len(set(picks)) == 1
    line = (
        f"{device} / {trace}: adaptive {a:.1f} ms (paired; {measured:.1f} ms as timed in its "
        f"own run) vs oracle {o:.1f} ms ({(a / o - 1) * 100:+.1f}%), best fixed {best_fixed} "
        f"{rows[best_fixed]['mean_ms']:.1f} ms; oracle picks {', '.join(sorted(set(picks)))}"
    )
    return {"device": device, "trace": trace, "adaptive_ms": a, "oracle_ms": o,
            "adaptive_measured_ms": measured,
            "within_10pct": a <= 1.10 * o, "beats_every_fixed": beats, "one_best": one_best,
            "best_fixed": best_fixed, "line": line}  # fmt: skip


def _emulation_note(emu: Any) -> str:
    if emu is None:
        return "NOT emulated (emulate: false): device work at host speed, profile for planning"
    if emu.emulated and emu.method == "dilate":
        return (f"emulated by dilation: each block of device work followed by a sleep of "
                f"{1 / emu.quota.share - 1:.1f}x its own CPU time")  # fmt: skip
    if emu.emulated:
        return f"emulated under a cgroup v{emu.cgroup_version} CPU quota"
    return f"NOT emulated (host speed): {emu.reason}"


def _rest_s(emu: Any) -> float:
    """One CFS period of the device's quota (0 when nothing is emulated)."""
    quota = getattr(emu, "quota", None)
    if emu is None or not emu.emulated or emu.method != "cgroup" or quota is None or quota.capped:
        return 0.0
    return float(quota.period_us) / 1e6


def _lost_dup(records: list[Record], link: TraceReplay, n: int) -> tuple[int, int]:
    """Requests without a result, and ids answered (or sent) more than once."""
    ids = Counter(r.request_id for r in records)
    lost = n - len(ids)
    dup = sum(v - 1 for v in ids.values()) + sum(v - 1 for v in link.sent.values())
    return lost, dup


def _images(n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    from splitinfer.data import load_fashion_mnist, synthetic
    from splitinfer.errors import BadInput

    try:
        x, y = load_fashion_mnist("test")
        return x[:n], y[:n]
    except BadInput:  # no data set here: synthetic pictures, accuracy not measured
        return synthetic(n, seed=0)[0], None


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text)


def _timeline(
    path: Path, trace: LinkTrace, adaptive: list[Record], orc: list[Record], device: str,
    name: str,
) -> None:  # fmt: skip
    from splitinfer.experiments.plots import pyplot, save

    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True)
    end = max(r.t_s for r in adaptive) + 1
    ts = [i * 0.25 for i in range(int(end / 0.25) + 1)]
    ax1.step(ts, [trace.up.capacity.rate_at(t) * 8 / 1e6 for t in ts], where="post")
    ax1.set_ylabel("uplink Mbps")
    ax1.set_yscale("symlog", linthresh=0.1)
    labels = sorted({r.choice for r in adaptive} | {r.choice for r in orc})
    ax2.scatter([r.t_s for r in orc], [labels.index(r.choice) for r in orc], s=30,
                marker="s", color="0.85", label="oracle")  # fmt: skip
    ax2.scatter([r.t_s for r in adaptive], [labels.index(r.choice) for r in adaptive], s=8,
                label="adaptive")  # fmt: skip
    ax2.set_yticks(range(len(labels)), labels)
    ax2.legend(loc="upper right", fontsize=7)
    ax3.plot([r.t_s for r in adaptive], [r.latency_ms for r in adaptive], lw=0.8,
             label="adaptive")  # fmt: skip
    ax3.plot([r.t_s for r in orc], [r.latency_ms for r in orc], lw=0.8, ls="--", label="oracle")
    ax3.set_yscale("log")
    ax3.set_ylabel("latency ms")
    ax3.set_xlabel("trace time s")
    ax3.legend(loc="upper right", fontsize=7)
    fig.suptitle(f"{name}, {device}")
    save(fig, path)
