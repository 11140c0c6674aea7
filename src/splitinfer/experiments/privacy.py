"""Experiment: how much of the input image the cloud can rebuild (measured).

Runs :mod:`splitinfer.privacy` over the families on one attack budget: cloud-only (the
image itself: the ceiling), Ulhaq & Bajic's 8-bit tiled features at the configured cuts
(when the backbone is there), the default bundle, and any trained bundles listed in
``privacy.bundles`` (the butterfly unit with JPEG, the learned prior at each lambda of the
sweep). Results are cached per subject in ``privacy.cache``, so a long run resumes.
"""

from __future__ import annotations

import glob
from dataclasses import asdict
from pathlib import Path
from typing import Any

from splitinfer.experiments.config import BenchConfig, PrivacyConfig
from splitinfer.experiments.result import Column, Result, figure, table
from splitinfer.experiments.subjects import resolve

NAME = "privacy"
TITLE = "Privacy: model inversion from what the server receives (measured)"
HOW = "`splitinfer bench --only privacy`"


def budget_of(cfg: PrivacyConfig) -> Any:
    from splitinfer.privacy import AttackBudget

    return AttackBudget(epochs=cfg.epochs, train_limit=cfg.train_limit,
                        batch_size=cfg.batch_size, lr=cfg.lr, width=cfg.width,
                        seed=cfg.seed)  # fmt: skip


def subjects_of(cfg: PrivacyConfig, notes: list[str]) -> list[Any]:
    """The subjects in report order; what cannot be built here is noted, not fatal."""
    from splitinfer.bundle import default_bundle_path
    from splitinfer.privacy import subjects as s

    out = [s.cloud_only(cfg.cloud_codec)] if cfg.cloud_codec else []
    backbone = resolve(cfg.backbone)
    if backbone.is_file():
        out += [s.ulhaq(cfg.model, str(backbone), cut, cfg.ulhaq_codec) for cut in cfg.ulhaq_cuts]
    elif cfg.ulhaq_cuts:
        notes.append(f"Ulhaq features skipped: no backbone at {cfg.backbone} (train one with "
                     "`splitinfer train backbone --out runs/r10`)")  # fmt: skip
    default = resolve(cfg.bundle) if cfg.bundle not in ("", "none") else default_bundle_path()
    if cfg.bundle != "none":
        out.append(s.bundle(default, True))
    out += [s.noisy_default(default, sigma) for sigma in cfg.edge_noise]
    for pattern in cfg.bundles:
        found = sorted(glob.glob(str(resolve(pattern))))
        if not found:
            notes.append(f"no bundle matches {pattern!r}: skipped")
        out += [s.bundle(p) for p in found]
    return out


def run(cfg: BenchConfig, out_dir: Path) -> dict[str, Any]:
    from splitinfer.data import load_fashion_mnist
    from splitinfer.privacy.study import Split, run_study

    pc = cfg.privacy
    res = Result(NAME, TITLE, config=asdict(pc))
    try:
        train = Split(*load_fashion_mnist("train"))
        test = Split(*load_fashion_mnist("test"))
    except Exception as err:  # BadInput: the data split is not installed
        return res.skip(f"not available: {getattr(err, 'message', err)}")
    if pc.train_limit:
        train = Split(train.images[: pc.train_limit], train.labels[: pc.train_limit])
    if pc.test_limit:
        test = Split(test.images[: pc.test_limit], test.labels[: pc.test_limit])
    subjects = subjects_of(pc, res.notes)
    cache = Path(pc.cache) if pc.cache else out_dir / "cache"
    study = run_study(subjects, train, test, budget_of(pc), cache, pc.classifier_epochs)
    return present(res, study, out_dir)


def columns() -> list[Column]:
    return [
        Column("family", "family"), Column("name", "member"), Column("view", "view"),
        Column("shape", "view shape"), Column("frame_bytes", "frame bytes", "measured", "B"),
        Column("accuracy", "cloud top-1", "measured", "%"),
        Column("psnr", "PSNR", "measured", "dB"), Column("ssim", "SSIM", "measured"),
        Column("top1", "classifier top-1 on recon.", "measured", "%"),
        Column("reid", "re-identified", "measured", "%"),
        Column("decoder_s", "decoder training", "measured", "s"),
    ]  # fmt: skip


def describe(study: Any) -> str:
    b, c = study.budget, study.classifier
    return (
        f"Attack decoder (splitinfer.privacy.decoder, width {b.width}) trained "
        f"{b.epochs} epochs on the first {study.results[0].train_images if study.results else 0}"
        f" training images (batch {b.batch_size}, Adam lr {b.lr}, seed {b.seed}), one per "
        f"view; evaluated on {study.results[0].test_images if study.results else 0} test "
        f"images, each sent in its own frame. Classifier: {c['architecture']}, {c['epochs']} "
        f"epochs on {c['train_images']} clean train images, {100 * c['clean_top1']:.2f}% on "
        "the clean test images. Re-identified: the reconstruction's nearest test image (L2) "
        "is its own source. Lower bounds on leakage: a stronger attack recovers more."
    )


def present(res: Result, study: Any, out_dir: Path) -> dict[str, Any]:
    from splitinfer.privacy.figures import draw_grid, draw_quality_vs_bytes

    rows = study.rows()
    res.tables.append(table("privacy-inversion", "Reconstruction from what the server holds",
                            columns(), rows, describe(study), readme=True))  # fmt: skip
    fig = draw_quality_vs_bytes(study, out_dir / "privacy-quality-vs-bytes.png")
    res.figures.append(figure(fig.name, "Reconstruction quality vs bytes per inference",
                              describe(study), "measured"))  # fmt: skip
    grid = draw_grid(study, out_dir / "privacy-grid.png")
    res.figures.append(figure(grid.name, "Test inputs and their reconstructions per family",
                              "Top row: test inputs; each row below: the attack decoder's "
                              "output for one family member and view.", "measured"))  # fmt: skip
    dflt = [r for r in study.results if r.family == "default bundle"]
    if dflt:
        v = dflt[0].best()
        res.summary = (f"default bundle: the attack rebuilds test images at {v.psnr:.1f} dB "
                       f"PSNR, SSIM {v.ssim:.2f}, {100 * v.reid_rate:.1f}% re-identified "
                       f"({v.view}); measured, a lower bound.")  # fmt: skip
    res.data = {"budget": study.budget.to_json(), "classifier": study.classifier,
                "results": [r.to_json() for r in study.results],
                "seconds": study.seconds}  # fmt: skip
    return res.save(out_dir)
