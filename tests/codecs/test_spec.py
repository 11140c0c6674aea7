"""Spec strings, dicts and lists: parsing, canonical form, round trips, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitinfer import codecs
from splitinfer.codecs import Spec, StageSpec, canonical, format_spec, parse_spec
from splitinfer.errors import BadCodecSpec
from tests.codecs.codec_cases import ALL_SPECS


def test_example_from_the_issue() -> None:
    codec = codecs.create("quant:bits=8,clip=p99.9|tile|jpeg:quality=20")
    assert str(codec.spec) == "quant:bits=8,clip=p99.9|tile:align=1|jpeg:quality=20"


@pytest.mark.parametrize(
    ("given_spec", "expected"),
    [
        ("raw", "raw:dtype=fp32"),
        ("zstd", "raw:dtype=fp32|zstd:level=3"),
        ("jpeg", "quant:bits=8,clip=minmax|tile:align=1|jpeg:quality=75"),
        ("ans", "quant:bits=8,clip=minmax|ans:model=auto"),
        ("quant:bits=4", "quant:bits=4,clip=minmax|raw:dtype=fp32"),
        ("quant:clip=-1.50:4|png", "quant:bits=8,clip=-1.5:4.0|tile:align=1|png:level=9"),
        ("quant:clip=p99.90,bits=08", "quant:bits=8,clip=p99.9|raw:dtype=fp32"),
        ("tile|deflate", "tile:align=1|raw:dtype=fp32|deflate:level=6"),
        (" quant : bits = 6 | ans ", "quant:bits=6,clip=minmax|ans:model=auto"),
    ],
)
def test_canonical_form(given_spec: str, expected: str) -> None:
    assert str(canonical(given_spec)) == expected
    assert str(canonical(expected)) == expected


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_string_dict_list_round_trip(spec: str) -> None:
    c = canonical(spec)
    assert parse_spec(str(c)) == c
    assert Spec.from_list(c.to_list()) == c
    assert canonical(c.to_list()) == c
    assert canonical(str(c)) == c
    assert format_spec(c) == str(c)


def test_dict_forms_with_numbers() -> None:
    as_list: list[dict[str, object]] = [
        {"name": "quant", "bits": 8, "clip": "p99.9"},
        {"name": "tile"},
        {"name": "jpeg", "quality": 20},
    ]
    assert canonical(as_list) == canonical("quant:bits=8,clip=p99.9|tile|jpeg:quality=20")
    assert canonical({"name": "raw", "dtype": "fp16"}) == canonical("raw:dtype=fp16")


_names = st.sampled_from(["raw", "quant", "tile", "x1", "my_codec"])
_keys = st.sampled_from(["bits", "clip", "level", "q"])
_values = st.from_regex(r"[A-Za-z0-9.:_+-]{1,8}", fullmatch=True)
_stage = st.builds(
    lambda n, kv: StageSpec(n, tuple(kv.items())),
    _names,
    st.dictionaries(_keys, _values, max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_stage, min_size=1, max_size=4))
def test_syntax_round_trip(stages: list[StageSpec]) -> None:
    spec = Spec(tuple(stages))
    assert parse_spec(str(spec)) == spec
    assert Spec.from_list(spec.to_list()) == spec


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("", "empty"),
        ("jpg", "known: ans, avif"),
        ("quant:bits=17", "bits"),
        ("quant:bits=0", "bits"),
        ("quant:bits=x", "bits"),
        ("quant:clip=p40", "clip"),
        ("quant:clip=4:1", "clip"),
        ("quant:clip=nan:1", "clip"),
        ("quant:clip=1e39:2e39", "clip"),
        ("quant:colour=red", "no parameter 'colour'"),
        ("quant:bits", "key=value"),
        ("quant:bits=8,bits=4", "twice"),
        ("Quant", "bad codec name"),
        ("raw|quant", "transforms, then one coder"),
        ("raw|png", "transforms, then one coder"),
        ("zstd|raw", "transforms, then one coder"),
        ("quant|quant", "cannot follow another quant"),
        ("tile|tile|png", "already tiled"),
        ("quant:bits=12|jpeg", "at most 8 bits"),
        ("quant:bits=12|tile|webp", "at most 8 bits"),
        ("jpeg:quality=0", "quality"),
        ("jpegxl:distance=inf", "distance"),
        ("raw:dtype=fp64", "dtype"),
        ("a|", "bad codec name"),
        ("raw:dtype=fp32,", "key=value"),
    ],
)
def test_bad_specs(bad: str, needle: str) -> None:
    with pytest.raises(BadCodecSpec, match=None) as info:
        codecs.create(bad)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "bad", [42, None, [{"bits": 8}], [{"name": 3}], [{"name": "raw", "dtype": None}], []]
)
def test_bad_spec_objects(bad: object) -> None:
    with pytest.raises(BadCodecSpec):
        codecs.create(bad)  # type: ignore[arg-type]


def test_registry_refuses_duplicates_and_lists_names() -> None:
    with pytest.raises(ValueError):
        codecs.register(codecs.CODECS["raw"])
    assert {
        "raw",
        "zstd",
        "deflate",
        "quant",
        "tile",
        "png",
        "jpeg",
        "webp",
        "avif",
        "jpegxl",
        "ans",
    } <= set(codecs.list_codecs())
