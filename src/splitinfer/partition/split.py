"""Cut a model into a head (runs on the edge) and a tail (runs in the cloud).

``split(model, at, example)`` returns two ordinary ``nn.Module`` objects (fx
``GraphModule``s) that share their parameters with ``model``. ``tail(head(x))`` runs
exactly the operations of ``model(x)``, in the same order, so in eval mode on the CPU the
result is bitwise equal for the same dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch import nn

from splitinfer.errors import UnknownCutPoint
from splitinfer.partition.graph import Analysis, analyze


@dataclass(frozen=True)
class CutPoint:
    """One place where exactly one tensor crosses from the head to the tail."""

    name: str
    aliases: tuple[str, ...]
    node: str  # the fx node whose output crosses
    index: int  # 0-based position among the model's cut points, input to output
    shape: tuple[int, ...]  # of the crossing tensor, for the example's batch size
    dtype: str
    numel: int
    bytes_fp32: int
    flops_head: int
    flops_tail: int
    params_head: int
    params_tail: int

    @property
    def bytes_8bit(self) -> int:
        """Size of the crossing tensor quantized to 8 bits (one byte per element)."""
        return self.numel


@dataclass(frozen=True)
class Split:
    """The two halves of a model cut at ``cut``.

    ``head`` maps the model's input to the crossing tensor; ``tail`` maps that tensor to
    the model's output. Iterating yields ``(head, tail)``.
    """

    head: fx.GraphModule
    tail: fx.GraphModule
    cut: CutPoint

    def __iter__(self) -> Iterator[nn.Module]:
        yield self.head
        yield self.tail


def _cut_point(a: Analysis, position: int, idx: int) -> CutPoint:
    node = a.nodes[idx]
    info = a.info[node]
    head_flops = info.cum_flops
    numel = 1
    for d in info.shape:
        numel *= d
    dtype = info.dtype if info.dtype is not None else torch.float32
    params_head = sum(n for k, n in a.param_numel.items() if a.param_first_use[k] <= idx)
    params_tail = sum(n for k, n in a.param_numel.items() if a.param_last_use[k] > idx)
    name, *aliases = a.names[idx]
    return CutPoint(
        name=name,
        aliases=tuple(aliases),
        node=node.name,
        index=position,
        shape=info.shape,
        dtype=str(dtype).removeprefix("torch."),
        numel=numel,
        bytes_fp32=4 * numel,
        flops_head=head_flops,
        flops_tail=a.total_flops - head_flops,
        params_head=params_head,
        params_tail=params_tail,
    )


def cut_points(a: Analysis) -> list[CutPoint]:
    return [_cut_point(a, pos, idx) for pos, idx in enumerate(a.cuts)]


def list_cut_points(
    model: nn.Module,
    example: torch.Tensor,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> list[CutPoint]:
    """Every exact cut point of ``model``, from input to output.

    ``example`` is one input batch (its values do not matter, its shape does). Raises
    :class:`~splitinfer.errors.UntraceableModel` if torch.fx cannot trace the model.
    """
    return cut_points(analyze(model, example, leaf_modules))


def _copier(
    graph: fx.Graph, env: dict[fx.Node, fx.Node], a: Analysis
) -> Callable[[fx.Node], fx.Node]:
    """Map an original node to its copy, re-creating constants on first use."""

    def lookup(n: fx.Node) -> fx.Node:
        if n not in env:
            if n not in a.constant:  # cannot happen for a valid cut; guard the invariant
                raise RuntimeError(f"node {n.name} crosses the cut but is not a constant")
            env[n] = graph.node_copy(n, lookup)
        return env[n]

    return lookup


def _build_head(a: Analysis, idx: int) -> fx.GraphModule:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    lookup = _copier(graph, env, a)
    for node in a.nodes[: idx + 1]:
        if node not in a.constant:  # constants are copied where they are used
            env[node] = graph.node_copy(node, lookup)
    graph.output(env[a.nodes[idx]])
    graph.lint()
    return fx.GraphModule(a.gm, graph, class_name="Head")


def _build_tail(a: Analysis, idx: int) -> fx.GraphModule:
    graph = fx.Graph()
    crossing = a.nodes[idx]
    env: dict[fx.Node, fx.Node] = {crossing: graph.placeholder(crossing.name)}
    env[crossing].meta = dict(crossing.meta)
    lookup = _copier(graph, env, a)
    for node in a.nodes[idx + 1 :]:
        if node not in a.constant:
            env[node] = graph.node_copy(node, lookup)
    graph.lint()
    return fx.GraphModule(a.gm, graph, class_name="Tail")


def resolve(a: Analysis, at: str | int, model_name: str | None = None) -> int:
    """The graph index of the cut named ``at`` (a name, an alias, or a position)."""
    if isinstance(at, int) and not isinstance(at, bool):
        if not -len(a.cuts) <= at < len(a.cuts):
            raise UnknownCutPoint(str(at), [a.names[i][0] for i in a.cuts], model_name)
        return a.cuts[at]
    idx = a.index_of(str(at))
    if idx is None:
        raise UnknownCutPoint(str(at), [a.names[i][0] for i in a.cuts], model_name)
    return idx


def split_analysis(a: Analysis, at: str | int, model_name: str | None = None) -> Split:
    idx = resolve(a, at, model_name)
    return Split(
        head=_build_head(a, idx),
        tail=_build_tail(a, idx),
        cut=_cut_point(a, a.cuts.index(idx), idx),
    )


def split(
    model: nn.Module,
    at: str | int,
    example: torch.Tensor,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> Split:
    """Cut ``model`` at the cut point named ``at`` (or its position in the cut list).

    Raises :class:`~splitinfer.errors.UnknownCutPoint`, listing the valid names, when
    ``at`` is not a cut point.
    """
    return split_analysis(analyze(model, example, leaf_modules), at)


def verify(
    model: nn.Module,
    inputs: torch.Tensor,
    at: Iterable[str] | None = None,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> dict[str, bool]:
    """For each cut (all by default): is ``tail(head(x))`` bitwise equal to ``model(x)``?

    Runs in eval mode without gradients; ``inputs`` may be a whole batch of real data.
    """
    a = analyze(model, inputs[:1], leaf_modules)
    names = list(at) if at is not None else [a.names[i][0] for i in a.cuts]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = model(inputs)
            out = {}
            for name in names:
                s = split_analysis(a, name)
                out[name] = bool(torch.equal(s.tail(s.head(inputs)), ref))
    finally:
        model.train(was_training)
    return out
