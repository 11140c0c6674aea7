"""The demo's settings (:class:`DemoConfig`), its modes and links, and its error."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitinfer.bundle import default_bundle_path
from splitinfer.errors import BadInput, SplitInferError

MODES: tuple[str, ...] = ("cloud-only", "split", "mobile-only")
NETWORK_MODES: tuple[str, ...] = ("cloud-only", "split")
DEFAULT_LINKS: tuple[str, ...] = ("3g", "4g", "wifi")
RESULTS_FORMAT = "splitinfer.demo/1"

#: ``progress(task, done, total)``: called from the thread that runs :func:`run_demo`.
ProgressFn = Callable[[str, int, "int | None"], None]


class DemoFailed(SplitInferError):
    """The demo could not finish: the server did not start, a request failed, ..."""

    code = "demo_failed"


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class DemoConfig:
    """What :func:`run_demo` measures, and how.

    ``burst_bytes`` is the emulator's token-bucket depth. The cost model charges
    ``8 * bytes / bandwidth`` for every message; with the emulator's default one-MTU
    bucket every request and response of this demo (all under 1500 bytes) would cross
    in zero time after the link idles, so the demo uses a 1-byte bucket: each message is
    serialized at the link rate, as on a real link.
    """

    bundle: Path | None = None  # None: splitinfer.bundle.default_bundle_path()
    images: int = 200  # test images per link, each sent in every mode
    links: tuple[str, ...] = DEFAULT_LINKS
    device: str = "host"  # device profile: modeled energy, and the edge's emulated speed
    emulate_device: bool = True  # run the link workers' edge work under the device's quota
    device_method: str = "cgroup"  # how: a CFS quota, or "dilate" (splitinfer.device)
    accuracy_images: int | None = None  # None: the full test split
    warmup: int = 5  # untimed requests per mode and link
    burst_bytes: int = 1
    parallel_links: bool = True
    link_budget_s: float = 30.0  # a link that would take longer is split over several devices
    max_devices_per_link: int = 3
    torch_threads: int = 1  # edge threads and the server's worker while latency is measured
    request_timeout_s: float = 10.0
    server_start_timeout_s: float = 120.0
    command: str = "splitinfer demo"
    ui: bool = False  # serve the monitor (/ui/) and the edge page (/edge/) while it runs
    #: every link follows this trace file (splitinfer.net.trace): a Mahimahi uplink trace
    #: beside each profile's RTT and downlink, or a CSV trace (then one link only); the
    #: planner still models each profile's fixed rates
    trace: str | None = None
    #: this machine's fixed per-request ms (`splitinfer plan --probe`), read for the
    #: model-only planner; None: the default store. Probed once here when there is none.
    probe: str | None = None

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A small run for tests and smoke checks: 10 images, one link, 200 for accuracy."""
        base: dict[str, Any] = {
            "images": 10, "links": ("wifi",), "accuracy_images": 200,
            "warmup": 2,
        }  # fmt: skip
        return cls(**{**base, **overrides})

    def check(self) -> None:
        if not 1 <= self.images <= 10000:
            raise BadInput(f"images must be in 1..10000, got {self.images}")
        if not self.links:
            raise BadInput("give at least one link (3g, 4g, wifi or custom:up=..,down=..,rtt=..)")
        if len(set(self.links)) != len(self.links):
            raise BadInput(f"each link once, please: got {', '.join(self.links)}")
        if self.accuracy_images is not None and not 1 <= self.accuracy_images <= 10000:
            raise BadInput(f"accuracy_images must be in 1..10000, got {self.accuracy_images}")
        csv_trace = self.trace is not None and str(self.trace).lower().endswith(".csv")
        if csv_trace and len(self.links) > 1:
            raise BadInput(
                "a CSV trace sets the whole link (rates, RTT, loss): give one link, "
                f"not {', '.join(self.links)}"
            )
        from splitinfer.device.emulation import check_method

        check_method(self.device_method, "device_method (--device-method)")
        if self.warmup < 0 or self.torch_threads < 1 or self.max_devices_per_link < 1:
            raise BadInput("torch_threads and max_devices_per_link must be >= 1, warmup >= 0")

    def devices_for(self, rtt_ms: float) -> int:
        """Emulated devices (worker processes) for a link: its images are shared out so it
        takes about ``link_budget_s``; an image costs about two requests over the link
        (RTT + 15 ms each) and 30 ms for the rest of its paths."""
        if not self.parallel_links:
            return 1
        seconds = self.images * (2 * (rtt_ms + 15.0) + 30.0) / 1000.0
        wanted = math.ceil(seconds / max(self.link_budget_s, 1e-3))
        return max(1, min(wanted, self.max_devices_per_link, self.images))

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["bundle"] = str(self.bundle_path)
        out["links"] = list(self.links)
        return out

    @property
    def bundle_path(self) -> Path:
        return Path(self.bundle) if self.bundle is not None else default_bundle_path()
