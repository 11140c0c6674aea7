from __future__ import annotations

import json
from pathlib import Path

from splitinfer.bottleneck import UnitConfig
from splitinfer.bundle import Bundle
from splitinfer.train.data import normalize_fmnist, synthetic
from splitinfer.train.evaluate import evaluate_bundle
from splitinfer.train.loop import FitConfig
from splitinfer.train.recipes import Data, train_backbone, train_unit_bundle


def test_backbone_then_units_make_a_measured_loadable_bundle(tmp_path: Path) -> None:
    (xtr, ytr), (xte, yte) = synthetic(384, seed=0), synthetic(64, seed=1)
    data = Data((normalize_fmnist(xtr), ytr), (normalize_fmnist(xte), yte))
    fast = FitConfig(epochs=1, batch_size=64, lr=0.05, augment=False)
    results = train_backbone("fmnist_cnn", data, fast, tmp_path / "bb", command="test")
    assert (tmp_path / "bb" / "weights.safetensors").is_file()
    assert json.loads((tmp_path / "bb" / "config.json").read_text())["model"] == "fmnist_cnn"
    assert results["test_accuracy"] > 0.5  # the texture task is easy

    run = train_unit_bundle(
        model_name="fmnist_cnn", backbone=tmp_path / "bb" / "weights.safetensors",
        cut="stage1", unit=UnitConfig(channels=2, stride=2), codec="quant:bits=2,clip=0:1|ans",
        data=data, config=fast, out=tmp_path / "units", bundle_dir=tmp_path / "bundle",
        bundle_id="synthetic", tune="units+tail", distill=2.0, test_images_u8=xte,
    )  # fmt: skip
    m = run.metrics
    assert m["images"] == 64 and 0.0 <= m["accuracy"] <= 1.0
    assert m["mean_frame_bytes"] > m["mean_payload_bytes"] > 0
    loaded = Bundle.load(run.bundle_dir)
    assert loaded.spec.metrics["accuracy"] == m["accuracy"]
    assert loaded.spec.unit == UnitConfig(channels=2, stride=2)
    from splitinfer.plan import load_ratepoints

    (point,) = load_ratepoints(tmp_path / "units" / "ratepoints.json")
    assert point.measured and point.cut == "stage1"
    assert point.frame_bytes == m["mean_frame_bytes"]
    again = evaluate_bundle(loaded, xte, yte)
    assert again["accuracy"] == m["accuracy"]
    assert again["mean_frame_bytes"] == m["mean_frame_bytes"]
