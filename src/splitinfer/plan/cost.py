"""The cost model: latency and device energy of one inference. Pure: numbers in, numbers out.

DESIGN.md section 4, for cut ``s``, codec ``c``, device ``d``, link ``l``, server ``v``::

    latency = t_head + t_enc + rtt + t_up + t_dec + t_tail + t_down + t_fixed
    t_up    = 8 * bytes_up / bw_up          t_down = 8 * bytes_result / bw_down
    energy  = P_active * (t_head + t_enc)                        # compute
            + P_up * t_up + P_down * t_down                      # radio
            + P_idle * (rtt + t_dec + t_tail + t_fixed)          # waiting for the cloud
    P_up    = alpha_up * bw_up + beta,   P_down = alpha_down * bw_down + beta   (mW)

The radio model is Huang et al., MobiSys 2012, as used by Neurosurgeon (ASPLOS 2017) and
JointDNN (arXiv 1801.08618). Cloud-only is the same formula with the input image as the
payload and its encoding as ``t_head``; mobile-only is ``t_full`` at ``P_active``.
``t_fixed`` is the fixed per-request time of the client, proxy and server (or, for
mobile-only, of the runner), measured once per machine (:mod:`splitinfer.plan.protocol`);
0 when not given. It is charged as waiting (idle power) when offloading, active on the
device for mobile-only.

Units: ms, bytes, Mbps, W and mW; energy in mJ (W x ms = mJ). Everything here is
*modeled*; callers label it so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Mode = Literal["realistic", "seed"]
MODES: tuple[Mode, ...] = ("realistic", "seed")


@dataclass(frozen=True)
class LinkParams:
    """The numbers of a link the cost model needs (a subset of ``LinkProfile``)."""

    up_mbps: float
    down_mbps: float
    rtt_ms: float
    alpha_up: float  # mW/Mbps
    alpha_down: float  # mW/Mbps
    beta: float  # mW


@dataclass(frozen=True)
class Stages:
    """One inference's stage times (ms, already on the device / server that runs them)."""

    head_ms: float  # edge compute before the wire (cloud-only: encoding the input image)
    encode_ms: float  # edge codec encode
    bytes_up: float  # everything sent up: payload (+ frame header in realistic mode)
    decode_ms: float  # server codec decode
    tail_ms: float  # server compute after the wire
    bytes_down: float  # the result sent back
    fixed_ms: float = 0.0  # fixed per-request time in client, proxy and server


@dataclass(frozen=True)
class CostBreakdown:
    """Latency (ms) and device energy (mJ) of one inference, stage by stage."""

    head_ms: float
    encode_ms: float
    uplink_ms: float
    rtt_ms: float
    server_ms: float  # decode + tail
    downlink_ms: float
    compute_mj: float
    radio_mj: float
    idle_mj: float
    bytes_up: float
    fixed_ms: float = 0.0  # fixed per-request time (client, proxy, server; or the runner)

    @property
    def latency_ms(self) -> float:
        return (
            self.head_ms + self.encode_ms + self.uplink_ms + self.rtt_ms + self.server_ms
            + self.downlink_ms + self.fixed_ms
        )  # fmt: skip

    @property
    def energy_mj(self) -> float:
        return self.compute_mj + self.radio_mj + self.idle_mj

    def to_json(self) -> dict[str, float]:
        out = asdict(self)
        out["latency_ms"] = self.latency_ms
        out["energy_mj"] = self.energy_mj
        return out


def transfer_ms(n_bytes: float, mbps: float) -> float:
    """Time to push ``n_bytes`` through ``mbps`` megabits per second: 8*bytes/bw, in ms."""
    if n_bytes <= 0:
        return 0.0
    return 8.0 * n_bytes / (mbps * 1e3)


def radio_power_mw(alpha: float, beta: float, throughput_mbps: float) -> float:
    """Huang et al.'s linear radio power model ``P = alpha * throughput + beta`` (mW)."""
    return alpha * throughput_mbps + beta


def offload_cost(
    stages: Stages, link: LinkParams, active_w: float, idle_w: float, mode: Mode = "realistic"
) -> CostBreakdown:
    """Latency and device energy when (part of) the work crosses the link.

    Used for split plans and for cloud-only (head = input encoding, tail = the whole model).
    ``seed`` mode reproduces the seed papers' setting: no RTT and no idle energy while
    waiting (the caller also drops header bytes and server decode time, see
    ``planner``); ``realistic`` keeps everything.
    """
    up_ms = transfer_ms(stages.bytes_up, link.up_mbps)
    down_ms = transfer_ms(stages.bytes_down, link.down_mbps)
    rtt = 0.0 if mode == "seed" else link.rtt_ms
    server_ms = stages.decode_ms + stages.tail_ms
    radio_mj = (
        radio_power_mw(link.alpha_up, link.beta, link.up_mbps) * up_ms
        + radio_power_mw(link.alpha_down, link.beta, link.down_mbps) * down_ms
    ) / 1e3  # mW x ms = uJ
    fixed = 0.0 if mode == "seed" else stages.fixed_ms
    idle_mj = 0.0 if mode == "seed" else idle_w * (rtt + server_ms + fixed)
    return CostBreakdown(
        head_ms=stages.head_ms,
        encode_ms=stages.encode_ms,
        uplink_ms=up_ms,
        rtt_ms=rtt,
        server_ms=server_ms,
        downlink_ms=down_ms,
        compute_mj=active_w * (stages.head_ms + stages.encode_ms),
        radio_mj=radio_mj,
        idle_mj=idle_mj,
        bytes_up=stages.bytes_up,
        fixed_ms=fixed,
    )


def local_cost(full_ms: float, active_w: float, fixed_ms: float = 0.0) -> CostBreakdown:
    """Mobile-only: the whole model on the device, nothing sent (``P_active * t_full``);
    ``fixed_ms``: the runner's own per-request time, also active."""
    return CostBreakdown(
        head_ms=full_ms, encode_ms=0.0, uplink_ms=0.0, rtt_ms=0.0, server_ms=0.0,
        downlink_ms=0.0, compute_mj=active_w * (full_ms + fixed_ms), radio_mj=0.0,
        idle_mj=0.0, bytes_up=0.0, fixed_ms=fixed_ms,
    )  # fmt: skip
