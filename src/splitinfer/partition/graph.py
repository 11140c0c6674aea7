"""Trace a model with torch.fx and find every place it can be cut exactly.

A *cut point* is a position in the traced graph's topological order after which exactly
one tensor is needed by the rest of the graph: the value of the node just before the
cut. Cutting there loses nothing, so ``tail(head(x))`` runs the very same operations as
``model(x)``. Positions inside a residual block are never cut points, because the skip
connection keeps a second tensor alive across them.

Constants (parameters and buffers read with ``get_attr``, and pure functions of them
only) do not count as crossing: either half can hold its own reference to them.

Each cut is named by the outermost module whose ``forward`` ends there (``layer2``,
``features.7``, ``encoder.layers.encoder_layer_3``), with the inner modules ending at the
same place as aliases (``layer2.3``); a cut that ends no module is named by its node.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from splitinfer.errors import BadInput, UnsupportedModel, UntraceableModel

SCOPE_KEY = "splitinfer_scope"


def _default_leaf_types() -> tuple[type[nn.Module], ...]:
    """Modules whose ``forward`` branches on ``self.training`` inside a function call.

    Tracing through them would freeze the eval-mode branch into the graph; as leaves they
    stay ordinary modules and keep honouring ``.train()`` / ``.eval()``.
    """
    import torchvision.ops

    return (torchvision.ops.StochasticDepth,)


class _ScopeTracer(fx.Tracer):
    """An fx tracer that records, on every node, the stack of module paths it ran in."""

    def __init__(self, leaf_types: tuple[type[nn.Module], ...]) -> None:
        import torchvision.ops

        autowrap: Any = (math, torchvision.ops)  # torch annotates this as a 1-tuple
        super().__init__(autowrap_modules=autowrap)
        self._leaf_types = leaf_types
        self._scope: list[str] = []

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self._leaf_types and isinstance(m, self._leaf_types):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(
        self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self._scope.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self._scope.pop()

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta[SCOPE_KEY] = tuple(p for p in self._scope if p)
        return node


def trace(model: nn.Module, leaf_modules: Iterable[type[nn.Module]] = ()) -> fx.GraphModule:
    """Symbolically trace ``model`` in eval mode; raise :class:`UntraceableModel` on failure.

    Tracing happens in eval mode because that is the graph we deploy (GoogLeNet and
    Inception, for instance, only build their auxiliary heads in training mode). The
    model's own mode is restored afterwards.
    """
    leaf_types = (*_default_leaf_types(), *leaf_modules)
    tracer = _ScopeTracer(leaf_types)
    was_training = model.training
    model.eval()
    try:
        graph = tracer.trace(model, concrete_args=_bound_defaults(model))
    except Exception as err:  # fx raises many unrelated types; all mean "cannot trace"
        raise UntraceableModel(
            f"torch.fx could not trace {type(model).__name__}: {type(err).__name__}: {err}. "
            "Exact cut points need a static graph. Try: move data-dependent Python control "
            "flow into a submodule and pass its class in leaf_modules=[...], wrap the "
            "offending function with torch.fx.wrap, or split the model by hand into two "
            "nn.Modules."
        ) from err
    finally:
        model.train(was_training)
    _drop_bound_placeholders(graph)
    name = type(model).__name__
    return fx.GraphModule(tracer.root, graph, class_name=name)


def _bound_defaults(model: nn.Module) -> dict[str, Any] | None:
    """``forward``'s optional arguments after the first, bound to their defaults.

    timm's ViT takes ``forward(x, attn_mask=None, is_causal=False)``: as constants these
    leave one input, the image, so the model splits exactly; an argument without a
    default stays an input, and such a model is refused as multi-input.
    """
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # builtins or C extensions without a signature
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.KEYWORD_ONLY)  # fmt: skip
    bound = {
        p.name: p.default
        for p in params[1:]
        if p.kind in positional and p.default is not inspect.Parameter.empty
    }
    return bound or None


def _drop_bound_placeholders(graph: fx.Graph) -> None:
    """Remove the placeholders fx keeps for bound defaults, with the checks it adds on them.

    fx turns each bound argument into a placeholder whose only users are assertions that
    the value is still the default; those go, so the graph has one input. A placeholder
    that something else still reads stays (and the model is then refused as multi-input).
    """
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in placeholders[1:]:
        if not node.args:  # not a bound default: a real input
            continue
        users = _users_closure(node)
        if all(u.op == "call_function" for u in users):
            for user in reversed([u for u in graph.nodes if u in users]):
                if not user.users:
                    graph.erase_node(user)
        if not node.users:
            graph.erase_node(node)


def _users_closure(node: fx.Node) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(node.users)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.users)
    return seen


@dataclass(frozen=True)
class NodeInfo:
    """What one pass over the example tells about a node."""

    is_tensor: bool
    shape: tuple[int, ...]
    dtype: torch.dtype | None
    cum_flops: int  # FLOPs of this node and all nodes before it


@dataclass
class Analysis:
    """A traced model with its cut positions, per-node facts and names."""

    gm: fx.GraphModule
    nodes: list[fx.Node]
    info: dict[fx.Node, NodeInfo]
    cuts: list[int]  # indices into ``nodes``; the cut is right after that node
    names: dict[int, tuple[str, ...]]  # cut index -> (name, *aliases)
    constant: set[fx.Node]  # get_attr nodes and pure functions of them only
    param_first_use: dict[int, int]  # id(param) -> first node index using it
    param_last_use: dict[int, int]
    param_numel: dict[int, int]
    input_node: fx.Node
    total_flops: int

    def index_of(self, name: str) -> int | None:
        for idx, names in self.names.items():
            if name in names:
                return idx
        return None


def _constant_nodes(nodes: Sequence[fx.Node]) -> set[fx.Node]:
    """get_attr nodes, and call nodes whose inputs are all such constants."""
    constant: set[fx.Node] = set()
    for node in nodes:
        if node.op == "get_attr":
            constant.add(node)
        elif node.op in ("call_function", "call_method"):
            inputs = node.all_input_nodes
            if inputs and all(i in constant for i in inputs) and not node.is_impure():
                constant.add(node)
    return constant


class _RecordingInterpreter(fx.Interpreter):
    """Runs the graph once, recording each node's output kind, shape and running FLOPs."""

    def __init__(self, gm: fx.GraphModule, counter: FlopCounterMode) -> None:
        super().__init__(gm)
        self.counter = counter
        self.info: dict[fx.Node, NodeInfo] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        is_tensor = isinstance(out, torch.Tensor)
        self.info[n] = NodeInfo(
            is_tensor=is_tensor,
            shape=tuple(out.shape) if is_tensor else (),
            dtype=out.dtype if is_tensor else None,
            cum_flops=int(self.counter.get_total_flops()),
        )
        return out


def _module_params(gm: fx.GraphModule, node: fx.Node) -> list[torch.Tensor]:
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        return list(mod.parameters())
    if node.op == "get_attr":
        value = _fetch_attr(gm, str(node.target))
        return [value] if isinstance(value, nn.Parameter) else []
    return []


def _fetch_attr(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _cut_names(nodes: Sequence[fx.Node], cuts: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Name each cut by the outermost module ending there; aliases are the inner ones."""
    names: dict[int, tuple[str, ...]] = {}
    seen: dict[str, int] = {}
    for idx in cuts:
        here: tuple[str, ...] = nodes[idx].meta.get(SCOPE_KEY, ())
        after: tuple[str, ...] = nodes[idx + 1].meta.get(SCOPE_KEY, ())
        common = 0
        while common < min(len(here), len(after)) and here[common] == after[common]:
            common += 1
        # No module ends here (a cut between two functional ops inside a block): name the
        # node, prefixed by the module it is in.
        inside = f"{here[-1]}/" if here else ""
        ending = list(here[common:]) or [f"{inside}{nodes[idx].name}"]
        # A module called more than once (a shared ReLU, say) ends several times.
        unique: list[str] = []
        for name in ending:
            count = seen.get(name, 0)
            seen[name] = count + 1
            unique.append(name if count == 0 else f"{name}:{count}")
        names[idx] = tuple(unique)
    return names


def analyze(
    model: nn.Module,
    example: torch.Tensor,
    leaf_modules: Iterable[type[nn.Module]] = (),
) -> Analysis:
    """Trace ``model``, run ``example`` through it once, and find its cut points."""
    if not isinstance(model, nn.Module):
        raise BadInput(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example, torch.Tensor):
        raise BadInput(f"example must be a torch.Tensor, got {type(example).__name__}")
    gm = trace(model, leaf_modules)
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedModel(
            f"{type(model).__name__}.forward takes {len(placeholders)} inputs; "
            "splitinfer splits models with exactly one input tensor"
        )

    was_training = model.training
    gm.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            interp = _RecordingInterpreter(gm, counter)
            interp.run(example)
    except Exception as err:
        raise BadInput(
            f"running the example of shape {tuple(example.shape)} through "
            f"{type(model).__name__} failed: {type(err).__name__}: {err}"
        ) from err
    finally:
        gm.train(was_training)
    info = interp.info
    index = {n: i for i, n in enumerate(nodes)}
    constant = _constant_nodes(nodes)

    # last_use[i]: the largest index of a node that consumes node i.
    last_use = {i: max((index[u] for u in n.users), default=-1) for i, n in enumerate(nodes)}
    computes = [
        n.op in ("call_module", "call_function", "call_method") and n not in constant for n in nodes
    ]
    # compute_after[i]: some real computation happens after node i (the output excluded).
    compute_after = [False] * len(nodes)
    for i in range(len(nodes) - 2, -1, -1):
        compute_after[i] = compute_after[i + 1] or computes[i + 1]
    cuts: list[int] = []
    live: set[int] = set()  # non-constant nodes produced so far that are used later
    has_compute = False
    for i, node in enumerate(nodes[:-1]):
        live = {j for j in live if last_use[j] > i}
        if node not in constant and last_use[i] > i:
            live.add(i)
        has_compute = has_compute or computes[i]
        node_info = info.get(node)
        if live == {i} and has_compute and compute_after[i] and node_info and node_info.is_tensor:
            cuts.append(i)

    first_use: dict[int, int] = {}
    last_param_use: dict[int, int] = {}
    numel: dict[int, int] = {}
    for i, node in enumerate(nodes):
        for p in _module_params(gm, node):
            key = id(p)
            first_use.setdefault(key, i)
            last_param_use[key] = i
            numel[key] = p.numel()

    total = info[nodes[-1]].cum_flops if nodes[-1] in info else 0
    return Analysis(
        gm=gm,
        nodes=nodes,
        info=info,
        cuts=cuts,
        names=_cut_names(nodes, cuts),
        constant=constant,
        param_first_use=first_use,
        param_last_use=last_param_use,
        param_numel=numel,
        input_node=placeholders[0],
        total_flops=total,
    )
