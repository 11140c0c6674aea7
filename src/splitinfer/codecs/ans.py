"""``ans``: entropy coding of quantized symbols with constriction's ANS coder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from splitinfer.codecs.ans_models import (
    MODEL_IDS,
    Group,
    hist_group,
    hist_side,
    laplace_group,
    laplace_params,
    laplace_side,
    read_hist,
    read_laplace,
    scaled_counts,
)
from splitinfer.codecs.bytesio import Reader, shape_bytes
from splitinfer.codecs.catalog import register
from splitinfer.codecs.clip import channel_view
from splitinfer.codecs.guard import third_party
from splitinfer.codecs.params import ChoiceParam, Params
from splitinfer.codecs.stage import Coder, Kind, StageInfo
from splitinfer.errors import BadCodecSpec, CodecError, PayloadTooLarge, require

_SLACK_BITS = 96


@dataclass(frozen=True)
class AnsParts:
    """An encoding split into its parts: model name, model side info, coded words."""

    model: str
    side: bytes
    words: bytes

    def to_bytes(self) -> bytes:
        return bytes([MODEL_IDS[self.model]]) + self.side + self.words


def _stack() -> Any:
    require("constriction", "codecs")
    import constriction

    return constriction.stream.stack


def _groups_of(sym: np.ndarray, model: str) -> list[np.ndarray]:
    """Symbol arrays per group, in coding order (global: one; else one per channel)."""
    if model == "hist":
        return [sym.reshape(-1)]
    view = channel_view(torch.from_numpy(sym)).numpy()
    return [np.ascontiguousarray(view[:, c, :]).reshape(-1) for c in range(view.shape[1])]


def fit(sym: np.ndarray, model: str, bits: int) -> tuple[bytes, list[Group]]:
    """Fit ``model`` to the symbols: its side info and one coding group per symbol group."""
    side, groups = b"", []
    for values in _groups_of(sym, model):
        if model == "laplace":
            mean, scale = laplace_params(values)
            side += laplace_side(mean, scale)
            groups.append(laplace_group(mean, scale, bits))
        else:
            lo, freqs = scaled_counts(values)
            side += hist_side(lo, freqs)
            groups.append(hist_group(lo, freqs))
    return side, groups


def _words_to_bytes(words: np.ndarray) -> bytes:
    data = words.astype("<u4").tobytes()
    trim = 0
    while trim < 3 and len(data) > trim and data[-1 - trim] == 0:
        trim += 1
    return data[: len(data) - trim]


def encode_parts(sym: np.ndarray, model: str, bits: int) -> AnsParts:
    """Encode symbols (int array, any shape) under one model family."""
    side, groups = fit(sym, model, bits)
    coder = _stack().AnsCoder()
    with third_party("ANS encode"):
        for values, group in reversed(list(zip(_groups_of(sym, model), groups, strict=True))):
            if group.const is None:
                coder.encode_reverse((values - group.offset).astype(np.int32), group.model)
        words = coder.get_compressed()
    return AnsParts(model, side, _words_to_bytes(words))


class AnsEntropyCoder(Coder):
    """Entropy coding of integer symbols with asymmetric numeral systems (ANS).

    Duda, "Asymmetric numeral systems" (arXiv:1311.2540, 2013), via constriction (Bamler,
    "Understanding Entropy Coding With Asymmetric Numeral Systems (ANS): a Statistician's
    Perspective", 2022), with a model fitted to the data and sent as side info: the
    entropy-coding stage of a CompressAI-style factorized feature codec.

        symbols -> fit model (hist | per-channel hist | per-channel Laplace)
                -> [shape][model id][model params][ANS words]

    ``model=auto`` (default) encodes under every family and keeps the shortest payload,
    model side info included. Each family wins somewhere on the bench features: the
    per-channel Laplace (4 bytes/channel) for 8-bit min/max symbols, per-channel
    histograms for 2-4 bit percentile-clipped ones, the global histogram on some small
    tensors; see ``ans_models`` for the side-info formats. Symbols are coded exactly
    (lossless). The models are zero-order: they ignore the spatial correlation that
    zstd/deflate/PNG exploit, so on smooth feature maps those can be smaller.
    """

    needs_symbols = True

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.model = params.text("model")

    def check_kind(self, kind: Kind) -> None:
        if kind.bits is None:
            raise BadCodecSpec("ans codes integer symbols; put a quant stage before it")

    def candidates(self, sym: np.ndarray) -> list[str]:
        if self.model != "auto":
            return [self.model]
        channels = channel_view(torch.from_numpy(sym)).shape[1]
        return ["hist", "channel", "laplace"] if channels > 1 else ["hist", "laplace"]

    def best_parts(self, x: torch.Tensor, kind: Kind) -> AnsParts:
        sym = x.numpy().astype(np.int64)
        bits = kind.bits or 8
        options = [encode_parts(sym, m, bits) for m in self.candidates(sym)]
        return min(options, key=lambda p: len(p.side) + len(p.words))

    def encode(self, x: torch.Tensor, kind: Kind) -> bytes:
        return shape_bytes(tuple(x.shape)) + self.best_parts(x, kind).to_bytes()

    def decode(self, body: bytes, kind: Kind) -> torch.Tensor:
        bits = kind.bits or 8
        reader = Reader(body, limits=self.limits)
        shape = reader.shape()
        model_id = reader.u8()
        names = {v: k for k, v in MODEL_IDS.items()}
        if model_id not in names:
            raise CodecError(f"corrupt payload: unknown ANS model id {model_id}")
        model = names[model_id]
        view_shape = (1, 1, int(np.prod(shape))) if model == "hist" else _view_shape(shape)
        groups = [self._read_group(reader, model, bits) for _ in range(view_shape[1])]
        words = reader.rest()
        self._check_bomb(groups, view_shape, len(words))
        out = self._decode_groups(words, groups, view_shape)
        return torch.from_numpy(out.astype(np.int32)).reshape(shape)

    @staticmethod
    def _read_group(reader: Reader, model: str, bits: int) -> Group:
        if model == "laplace":
            return laplace_group(*read_laplace(reader), bits)
        return hist_group(*read_hist(reader, bits))

    @staticmethod
    def _check_bomb(groups: list[Group], view_shape: tuple[int, int, int], nbytes: int) -> None:
        per_group = view_shape[0] * view_shape[2]
        least = sum(g.min_bits_per_symbol for g in groups) * per_group
        if least * 0.95 > 8 * nbytes + _SLACK_BITS:
            raise PayloadTooLarge(
                "corrupt payload: the declared shape needs more coded bits than present"
            )

    @staticmethod
    def _decode_groups(
        words: bytes, groups: list[Group], view_shape: tuple[int, int, int]
    ) -> np.ndarray:
        n, c, rest = view_shape
        out = np.empty((n, c, rest), dtype=np.int64)
        padded = words + b"\0" * (-len(words) % 4)
        with third_party("ANS decode"):
            coder = _stack().AnsCoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))
            for index, group in enumerate(groups):
                if group.const is not None:
                    out[:, index, :] = group.const
                    continue
                decoded = np.asarray(coder.decode(group.model, n * rest), dtype=np.int64)
                out[:, index, :] = (decoded + group.offset).reshape(n, rest)
            if not coder.is_empty():
                raise CodecError("corrupt payload: ANS words left over after decoding")
        return out


def _view_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) < 3:
        return 1, 1, int(np.prod(shape))
    c = shape[-3]
    n = int(np.prod(shape[:-3]))
    return n, c, shape[-2] * shape[-1]


register(
    StageInfo(
        "ans",
        "coder",
        AnsEntropyCoder,
        (
            ChoiceParam(
                "model", "auto", "probability model", ("auto", "hist", "channel", "laplace")
            ),
        ),
        "ANS entropy coding with a fitted model (lossless on symbols)",
    )
)
