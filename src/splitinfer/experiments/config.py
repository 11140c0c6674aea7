"""The bench configuration: defaults for the full run, a quick variant, file overrides.

    cfg = bench_config(quick=True)                       # the CI subset
    cfg = bench_config(path="my.yaml")                   # overrides, e.g. {server: {requests: 50}}

Overrides are a YAML (``yaml.safe_load``) or JSON mapping whose keys mirror the fields
below; an unknown key is an error that lists the known ones. The resolved configuration
is written next to the results (``config.json``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitinfer.errors import BadInput
from splitinfer.experiments.server_load import LoadSettings


@dataclass
class SubjectsConfig:
    """The two models the planner experiments cost (a, b, c)."""

    bundle: str = ""  # "" = splitinfer.bundle.default_bundle_path()
    bundle_device: str = "phone"
    bundle_server: str = "gpu"  # a datacenter GPU (ASSUMED 20x this host): little timing noise
    bundle_budget_pp: float | None = None  # None: the bundle's measured loss (its point fits)
    profile_repeats: int = 10  # the bundle model is profiled here, now (measured host ms)
    profile_warmup: int = 3
    profile_rounds: int = 3  # lowest of the rounds' medians (the machine is shared)
    resnet50: bool = True
    resnet50_profile: str = "docs/figures/profile-resnet50.json"
    resnet50_rates: str = "docs/figures/resnet50-paper-assumed-rates.json"
    resnet50_device: str = "jetson-tx2"
    resnet50_server: str = "gpu"
    resnet50_budget_pp: float = 2.0


@dataclass
class PlanConfig:
    links: list[str] = field(default_factory=lambda: ["3g", "4g", "wifi"])
    modes: list[str] = field(default_factory=lambda: ["seed", "realistic"])
    figure_mode: str = "realistic"  # per-cut figures
    figure_cuts: str = "modules"  # "modules": skip cuts inside a module (layer1.0/add); "all"
    sweep_link: str = "4g"  # bandwidth map: this link with its uplink swept
    sweep_mbps: str = "0.1:100"
    sweep_points: int = 40


@dataclass
class CodecsConfig:
    models: list[str] = field(default_factory=lambda: ["fmnist_resnet", "fmnist_cnn", "resnet50"])
    specs: list[str] = field(
        default_factory=list
    )  # [] = splitinfer.experiments.codecbench.bench.DEFAULT_SPECS
    images: int = 4
    repeats: int = 3


@dataclass
class ServerConfig(LoadSettings):
    """The load test's settings (one set of defaults), plus which bundle to serve."""

    bundle: str = ""  # "" = the default bundle


@dataclass
class RateAccuracyConfig:
    sweep: str = "runs/sweep-full/sweep.json"  # `splitinfer sweep --budget full` writes it
    committed: str = "docs/figures/sweep-fmnist-full.json"  # else this one (not in --quick)
    run_quick_sweep: bool = True  # in --quick without a sweep file, if a backbone exists
    sweep_config: str = "configs/sweep-fmnist.yaml"  # the quick sweep's model and backbone
    quick_test_images: int = 200


@dataclass
class EndToEndConfig:
    images: int = 200
    links: list[str] = field(default_factory=lambda: ["3g", "4g", "wifi"])
    from_json: str = ""  # a `splitinfer demo` results.json to present instead of running it
    trace: str = ""  # every link follows this trace file ("" = fixed rates); see traces/
    device: str = "host"  # device profile: the edge workers run at its speed (cgroup quota)


@dataclass
class WireBytesConfig:
    inferences: int = 1000  # per transport
    bundle: str = ""  # "" = the default bundle


@dataclass
class PrivacyConfig:
    """The model-inversion comparison (splitinfer.privacy): families on one attack budget."""

    epochs: int = 2  # attack decoder epochs
    train_limit: int | None = 5_000  # first N training images the attacker uses
    test_limit: int | None = None  # None: the full test split
    width: int = 32
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    classifier_epochs: int = 2
    cloud_codec: str = "png"  # "" = no cloud-only row
    bundle: str = ""  # "" = the default bundle; "none" = no default-bundle row
    model: str = "fmnist_resnet10"  # the Ulhaq family's backbone
    backbone: str = "runs/r10/weights.safetensors"
    ulhaq_cuts: list[str] = field(default_factory=lambda: ["stage1", "stage3"])
    ulhaq_codec: str = "quant:bits=8,clip=p99.9|tile|png"
    bundles: list[str] = field(default_factory=list)  # trained bundles (globs allowed)
    edge_noise: list[float] = field(default_factory=list)  # knob: noise on the default bundle
    cache: str = ""  # "" = <report>/privacy/cache


@dataclass
class AdaptationConfig:
    """Run-time adaptation over the shipped traces (splitinfer.experiments.adaptation)."""

    bundle: str = "bundles/fmnist-r10-stage1-multirate"  # a multi-rate bundle
    trace_dir: str = "traces"
    traces: list[str] = field(
        default_factory=lambda: ["commute.csv", "congested-4g.csv", "3g-dropouts.csv"]
    )
    devices: list[str] = field(default_factory=lambda: ["phone"])  # each on every trace
    # DEVICE@TRACE runs on top: the phone's power figures at 1 GFLOP/s (a low-end or
    # throttled phone, where the choice depends on the link) on the commute only, since
    # its emulated edge work takes ~0.6 s of wall time per request here
    extra: list[str] = field(default_factory=lambda: ["phone:gflops=1@commute.csv"])
    extra_interval_s: float = 4.0  # trace seconds between requests in the extra runs
    emulate: bool = True  # run the edge's work at each device's speed (else: plan only)
    # "dilate" (sleep the block's CPU time x (1/share - 1)) or "cgroup" (a CFS quota): the
    # quota is too coarse for this bundle's 3-5 ms blocks at a 4% share (bimodal: host
    # speed or several 25 ms periods; docs/replanning.md), which the oracle's hindsight
    # then exploits
    emulation: str = "dilate"
    interval_s: float = 2.0  # trace seconds between requests
    images: int = 500  # Fashion-MNIST test images, cycled
    link: str = "4g"  # the link profile auto plans from before its estimate moves
    budget: float | None = 2.0  # accuracy points a choice may lose (None: no budget)
    accuracy_weight: float = 1.0  # auto: ms of cost per accuracy point lost
    replan_threshold: float = 0.25
    replan_every: int = 10
    replan_margin: float = 0.10
    replan_hold: int = 2
    replan_skip_hopeless: bool = True  # no exploring while even the best link seen loses
    replan_measured_device: bool = True  # price device work as measured (DeviceTimes)
    replan_step_hold: bool = True  # a link step the estimator saw switches without hold
    replan_ping_every: int = 2  # on the device, ping after every N requests (0: never)
    oracle_window_s: float = 10.0
    profile_repeats: int = 10  # timed runs per half when auto profiles the bundle


@dataclass
class BenchConfig:
    quick: bool = False
    experiments: list[str] = field(default_factory=list)  # [] = all
    subjects: SubjectsConfig = field(default_factory=SubjectsConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    codecs: CodecsConfig = field(default_factory=CodecsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    rate_accuracy: RateAccuracyConfig = field(default_factory=RateAccuracyConfig)
    end_to_end: EndToEndConfig = field(default_factory=EndToEndConfig)
    wire_bytes: WireBytesConfig = field(default_factory=WireBytesConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


QUICK_CODEC_SPECS = [
    "raw:dtype=fp16",
    "quant:bits=8",
    "quant:bits=8|zstd:level=3",
    "quant:bits=8,clip=p99.9|tile|jpeg:quality=50",
    "quant:bits=4,clip=p99.9|ans",
]

#: What ``--quick`` changes: small subsets of the same pipeline.
QUICK: dict[str, Any] = {
    "quick": True,
    "subjects": {"profile_repeats": 3, "profile_warmup": 1, "profile_rounds": 2},
    "plan": {"sweep_points": 16},
    "codecs": {"models": ["fmnist_resnet"], "specs": QUICK_CODEC_SPECS, "images": 2, "repeats": 1},
    "server": {
        "modes": ["on", "off"],
        "transports": ["http"],
        "concurrency": [1, 8],
        "requests": 60,
        "warmup": 10,
    },
    "end_to_end": {"images": 20},
    "adaptation": {
        "traces": ["congested-4g.csv"],
        "devices": ["phone"],
        "extra": [],
        "interval_s": 10.0,
        "images": 40,
        "profile_repeats": 3,
    },
    "wire_bytes": {"inferences": 50},
    "privacy": {
        "epochs": 2,
        "train_limit": 1024,
        "test_limit": 256,
        "batch_size": 64,
        "ulhaq_cuts": ["stage1"],
        "classifier_epochs": 1,
    },
}


def bench_config(quick: bool = False, path: str | Path | None = None) -> BenchConfig:
    """The defaults, then ``QUICK`` when ``quick``, then the file at ``path``."""
    cfg = BenchConfig()
    if quick:
        merge(cfg, QUICK)
    if path is not None:
        merge(cfg, read_mapping(path))
    return cfg


def read_mapping(path: str | Path) -> dict[str, Any]:
    text = Path(path).read_text()
    try:
        import yaml

        data = yaml.safe_load(text)
    except ImportError:
        data = json.loads(text)
    except Exception as err:  # yaml.YAMLError
        raise BadInput(f"{path}: not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping of bench settings")
    return data


def merge(obj: Any, data: dict[str, Any], where: str = "") -> None:
    """Set ``obj``'s fields from ``data`` recursively; unknown keys raise ``BadInput``."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        if key not in fields:
            raise BadInput(
                f"unknown bench setting {where + key!r}; known: {', '.join(sorted(fields))}"
            )
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            if not isinstance(value, dict):
                raise BadInput(f"bench setting {where + key!r} takes a mapping")
            merge(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, value)
