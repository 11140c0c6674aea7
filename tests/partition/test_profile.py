from __future__ import annotations

import json
from pathlib import Path

import torch

from splitinfer import zoo
from splitinfer.partition import ModelProfile, list_cut_points, profile_model


def test_static_profile_matches_cut_points() -> None:
    model = zoo.create("fmnist_cnn")
    x = torch.randn(1, 1, 28, 28)
    prof = profile_model(model, x, name="fmnist_cnn", measure=False)
    assert [r.cut for r in prof.cuts] == list_cut_points(model, x)
    assert all(r.head_ms is None and r.tail_ms is None for r in prof.cuts)
    assert prof.input_bytes == 28 * 28 and prof.params == sum(p.numel() for p in model.parameters())
    assert prof.total_flops == prof.cuts[0].cut.flops_head + prof.cuts[0].cut.flops_tail


def test_measured_profile_reports_positive_medians_and_progress() -> None:
    model = zoo.create("fmnist_resnet")
    seen: list[tuple[int, int]] = []
    prof = profile_model(
        model, torch.randn(1, 1, 28, 28), repeats=2, warmup=1,
        progress=lambda done, total, what: seen.append((done, total)),
    )  # fmt: skip
    assert prof.full_ms is not None and prof.full_ms > 0
    assert all(r.head_ms and r.tail_ms and r.head_ms > 0 and r.tail_ms > 0 for r in prof.cuts)
    assert seen[-1] == (len(prof.cuts) + 1, len(prof.cuts) + 1)
    assert prof.timing["repeats"] == 2 and prof.machine["torch_threads"] >= 1


def test_profile_json_round_trip(tmp_path: Path) -> None:
    prof = profile_model(zoo.create("fmnist_cnn"), torch.randn(1, 1, 28, 28), measure=False)
    path = tmp_path / "p.json"
    prof.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "splitinfer.profile/1"
    assert ModelProfile.load(path) == prof


def test_profile_leaves_training_mode_alone() -> None:
    model = zoo.create("fmnist_cnn").train()
    profile_model(model, torch.randn(1, 1, 28, 28), measure=False)
    assert model.training
