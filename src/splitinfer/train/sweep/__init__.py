"""The rate-accuracy sweep: cut points x unit widths x codec settings, four curve families.

Every point is measured the way it is deployed (DESIGN.md section 5): top-1 on the test
split through the real encode -> frame -> decode path, one image per frame, with the mean
frame bytes (header included) and payload bytes, and the median encode / decode ms::

    cloud-only  image -> PNG / WebP / JPEG -> [frame] -> decode -> unsplit backbone
    ulhaq       head -> clip + quant8 -> tile -> JPEG/PNG -> frame -> ... -> tail
                (Ulhaq & Bajic 2020: no unit, no training)
    bottlenet   head -> reduction unit -> quant8 + tile + JPEG -> frame -> ... -> restoration
                -> tail (Eshratifar et al. 2019: trained with JPEG in the loop, STE)
    ours        head -> reduction unit -> quant + ANS -> frame -> ... -> restoration -> tail

beside two references: the unsplit backbone and the *control*, the unsplit model given the
same extra training as the units (:func:`train_control`).

A point is "family + cut + unit + codec spec + extra training kwargs" (:class:`Point`);
the kwargs go to :func:`splitinfer.train.recipes.train_units` (e.g. a rate term, once the
recipe has one). Each point is cached in ``OUT/points/<slug>/`` (``results.json``, and for
trained points the unit bundle), so a sweep resumes where it stopped; the slug ends in a
hash of everything the result depends on, so changing a setting never reuses a stale
point. :func:`run_sweep` writes ``sweep.json`` (``splitinfer.sweep/1``),
``ratepoints.json`` (for ``splitinfer plan --rates``) and ``pareto.png``.

Modules: config.py (:class:`SweepConfig` and its parts, :func:`load_config`,
:func:`override`), pareto.py (fronts and the comparison at a level), cloud_only.py (the
cloud-only family), points.py (one point: context, slug, cache, measurement), control.py
(:func:`train_control`), run.py (:func:`run_sweep`, :func:`assemble`).
"""

from __future__ import annotations

from splitinfer.train.sweep.cloud_only import (
    IMAGE_CODECS,
    decode_image,
    encode_image,
    image_codec,
    measure_cloud_only,
)
from splitinfer.train.sweep.config import (
    BUDGETS,
    BYTES_NOTE,
    DEFAULT_BUDGET,
    FAMILIES,
    FAMILY_LABELS,
    OURS,
    OURS_FAMILIES,
    SWEEP_FORMAT,
    TRAINED_FAMILIES,
    Group,
    Point,
    SweepConfig,
    TrainSettings,
    budget_settings,
    load_config,
    override,
    parse_unit,
    unit_label,
)
from splitinfer.train.sweep.control import train_control
from splitinfer.train.sweep.pareto import (
    LevelComparison,
    bytes_at_level,
    compare_at_level,
    family_fronts,
    pareto_front,
)
from splitinfer.train.sweep.points import SweepHooks, input_shape, short_codec, slug
from splitinfer.train.sweep.run import (
    assemble,
    canonical_codec,
    canonical_points,
    run_sweep,
    validate,
)

__all__ = [
    "BUDGETS",
    "BYTES_NOTE",
    "DEFAULT_BUDGET",
    "FAMILIES",
    "FAMILY_LABELS",
    "IMAGE_CODECS",
    "OURS",
    "OURS_FAMILIES",
    "SWEEP_FORMAT",
    "TRAINED_FAMILIES",
    "Group",
    "LevelComparison",
    "Point",
    "SweepConfig",
    "SweepHooks",
    "TrainSettings",
    "assemble",
    "budget_settings",
    "bytes_at_level",
    "canonical_codec",
    "canonical_points",
    "compare_at_level",
    "decode_image",
    "encode_image",
    "family_fronts",
    "image_codec",
    "input_shape",
    "load_config",
    "measure_cloud_only",
    "override",
    "pareto_front",
    "parse_unit",
    "run_sweep",
    "short_codec",
    "slug",
    "train_control",
    "unit_label",
    "validate",
]
