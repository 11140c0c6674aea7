"""The attack decoder: what the server holds after decoding a frame -> the input image.

    view (C x h x w) -> BatchNorm -> conv (1x1, or 3x3 stride s when h > H/2) -> resize to
    H/2 x W/2 -> conv 3x3 -> transposed conv 2x2 stride 2 -> conv 3x3 -> sigmoid -> image

Small on purpose (about 15k weights at width 32): the attack runs for every
family on the same budget on two CPU cores. The input BatchNorm puts latents of any scale
(integer symbols, dequantized features) on one footing, so one recipe fits all views.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from splitinfer.privacy.budget import AttackBudget

Progress = Callable[[int, int, float], None]  # (step, total steps, loss)


class InversionDecoder(nn.Module):
    """``view`` of shape ``in_shape`` -> image of shape ``out_shape`` (values in [0, 1])."""

    def __init__(
        self, in_shape: tuple[int, ...], out_shape: tuple[int, int, int], width: int = 32
    ) -> None:
        super().__init__()
        c, h = in_shape[0], in_shape[1]
        oc, oh, ow = out_shape
        self.mid = (max(1, oh // 2), max(1, ow // 2))
        self.out_size = (oh, ow)
        stride = max(1, h // self.mid[0])
        front = (
            nn.Conv2d(c, width, 3, stride=stride, padding=1)
            if stride > 1
            else nn.Conv2d(c, width, 1)
        )
        self.front = nn.Sequential(nn.BatchNorm2d(c), front, nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        half = max(width // 2, 1)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(width, half, 2, stride=2), nn.ReLU(),
            nn.Conv2d(half, oc, 3, padding=1),
        )  # fmt: skip

    def forward(self, view: torch.Tensor) -> torch.Tensor:
        x = self.front(view)
        if tuple(x.shape[-2:]) != self.mid:
            x = F.interpolate(x, size=self.mid, mode="bilinear", align_corners=False)
        x = self.up(self.body(x))
        if tuple(x.shape[-2:]) != self.out_size:  # odd output sides
            x = F.interpolate(x, size=self.out_size, mode="bilinear", align_corners=False)
        return torch.sigmoid(x)


def as_views(x: torch.Tensor) -> torch.Tensor:
    """Views as N x C x h x w float: a flat latent (N x D) becomes N x D x 1 x 1."""
    x = x.float()
    if x.dim() == 2:
        return x[:, :, None, None]
    if x.dim() == 3:
        return x[:, None]
    return x


def train_decoder(
    views: torch.Tensor,
    images: torch.Tensor,
    budget: AttackBudget,
    progress: Progress | None = None,
) -> tuple[InversionDecoder, dict[str, float]]:
    """Fit a decoder on (view, uint8 image) pairs by MSE in [0, 1] pixels (Adam, cosine lr).

    The caller has checked the budget (:meth:`AttackBudget.check`). Returns the decoder in
    eval mode and its cost: seconds, steps, parameters, last epoch's mean loss.
    """
    views = as_views(views)
    target = images.float() / 255.0
    torch.manual_seed(budget.seed)
    g = torch.Generator().manual_seed(budget.seed)
    dec = InversionDecoder(tuple(views.shape[1:]), tuple(target.shape[1:]), budget.width)  # type: ignore[arg-type]
    opt = torch.optim.Adam(dec.parameters(), lr=budget.lr)
    total = budget.steps(len(views))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1))
    t0 = time.perf_counter()
    step, last = 0, float("nan")
    dec.train()
    for _epoch in range(budget.epochs):
        order = torch.randperm(len(views), generator=g)
        losses = []
        for start in range(0, len(views), budget.batch_size):
            idx = order[start : start + budget.batch_size]
            loss = F.mse_loss(dec(views[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress:
                progress(step, total, losses[-1])
        last = sum(losses) / max(len(losses), 1)
    dec.eval()
    cost = {
        "train_seconds": round(time.perf_counter() - t0, 1),
        "steps": step,
        "parameters": sum(p.numel() for p in dec.parameters()),
        "final_train_mse": last,
    }
    return dec, cost


@torch.no_grad()
def reconstruct(dec: InversionDecoder, views: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The decoder's images for ``views`` (float, [0, 1])."""
    views = as_views(views)
    return torch.cat([dec(views[i : i + batch_size]) for i in range(0, len(views), batch_size)])
