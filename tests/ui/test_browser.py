"""The edge page and the monitor in real Chromium (Debian's, driven by Playwright).

100 Fashion-MNIST test images per run: split over WebSocket and over HTTP, cloud-only
over WebSocket, mobile-only. Split must agree with the Python edge on >= 99% of the
predictions with identical payload bytes wherever the symbols agree; mobile-only with
torch on >= 99%. The monitor's counter must show the requests. Screenshots of both pages
go to the run folder ($SPLITINFER_SCREENSHOTS, else a temporary one; its path is printed).

Skipped, with the reason, where chromium, Playwright, onnxruntime-web (``make web``) or
the data set is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from splitinfer.bundle import Bundle, default_bundle_path
from splitinfer.cloud import DataPlane
from splitinfer.cloud.server import serve_in_thread
from splitinfer.cloud.settings import ServeSettings
from splitinfer.ui import vendor_ready

N = 100
TOKEN = "browser-test-token"
RUNS = [("split", "ws"), ("split", "http"), ("cloud-only", "ws"), ("mobile-only", "ws")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (make web installs Debian's package as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'splitinfer[browser]')"
    if not vendor_ready():
        return "onnxruntime-web is not installed in splitinfer/ui/static/vendor (make web)"
    try:
        from splitinfer.data import fmnist_root

        fmnist_root()
    except Exception as err:
        return f"Fashion-MNIST is missing: {err}"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle.load(default_bundle_path())


@pytest.fixture(scope="module")
def base_url(bundle: Bundle) -> Iterator[str]:
    settings = ServeSettings(bundles=[], host="127.0.0.1", port=0, token=TOKEN,
                             log_level="warning", drain_timeout_s=2)  # fmt: skip
    with serve_in_thread(settings, DataPlane([bundle], torch_threads=1)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        page = context.new_page()
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("SPLITINFER_SCREENSHOTS")
    out = Path(folder) if folder else tmp_path_factory.mktemp("browser-run")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def python_edge(bundle: Bundle) -> dict[str, Any]:
    """What the Python edge makes of the same images: payloads, split predictions, and the
    unsplit predictions cloud-only and mobile-only give (the baseline, when the bundle has one)."""
    from splitinfer.data import load_fashion_mnist

    images, labels = load_fashion_mnist("test")
    images, labels = images[:N], labels[:N]
    with torch.no_grad():
        z = bundle.edge.features(images)
        payloads = [bundle.codec.encode(z[i : i + 1]).hex() for i in range(N)]
        split = [int(bundle.cloud.run(bundle.codec.decode(bytes.fromhex(p))).argmax())
                 for p in payloads]  # fmt: skip
        full = bundle.unsplit(bundle.spec.preprocess(images)).argmax(1).tolist()
    return {"payloads": payloads, "split": split, "full": full, "labels": labels.tolist()}


def run_page(
    page: Any, base_url: str, bundle: Bundle, mode: str, transport: str, share: bool = False
) -> dict[str, Any]:
    url = (f"{base_url}/edge/?bundle={bundle.spec.id}&source=test&n={N}&mode={mode}"
           f"&transport={transport}&auto=1&access_token={TOKEN}")  # fmt: skip
    if share:
        url += "&share_input=1"
    page.goto(url)
    page.wait_for_function("window.splitinferResults && window.splitinferResults.done",
                           timeout=180_000)  # fmt: skip
    results: dict[str, Any] = page.evaluate("window.splitinferResults")
    assert "error" not in results, results.get("error")
    return results


def test_edge_page_in_chromium(
    page: Any, base_url: str, bundle: Bundle, python_edge: dict[str, Any], shots: Path
) -> None:
    report = []
    for mode, transport in RUNS:
        r = run_page(page, base_url, bundle, mode, transport)
        assert (r["mode"], r["transport"], r["count"]) == (mode, transport, N)
        preds = r["predictions"]
        reference = python_edge["full"] if mode != "split" else python_edge["split"]
        agree = sum(a == b for a, b in zip(preds, reference, strict=True)) / N
        row = {"mode": mode, "transport": transport, "accuracy": r["correct"] / N,
               "agreement": agree, "mean_payload_bytes": r["mean_payload_bytes"],
               "mean_wire_bytes_up": r["mean_wire_bytes_up"], "p50_ms": r["p50_ms"],
               "p95_ms": r["p95_ms"]}  # fmt: skip
        if mode == "split":
            same = sum(a == b for a, b in zip(r["payloads"], python_edge["payloads"], strict=True))
            row["identical_payloads"] = same / N
            assert same / N >= 0.99, f"{N - same} payloads differ from Python's"
        if mode == "split" and transport == "ws":
            page.screenshot(path=str(shots / "edge-page.png"), full_page=True)
        assert agree >= 0.99, row
        report.append(row)
    (shots / "browser-results.json").write_text(json.dumps(report, indent=1))
    print(f"\nbrowser results ({shots}):")
    for row in report:
        print("  " + json.dumps(row))


def test_monitor_counts_the_requests(page: Any, base_url: str, bundle: Bundle, shots: Path) -> None:
    monitor = page.context.new_page()  # open while the edge page sends, in another tab
    monitor.goto(f"{base_url}/ui/?access_token={TOKEN}")
    monitor.wait_for_function("window.splitinferMonitor !== undefined", timeout=30_000)
    first = monitor.evaluate("window.splitinferMonitor")["bundles"][0]
    before = first["total"]
    assert first["input"] is None  # no run so far opted in to show its input
    run_page(page, base_url, bundle, "split", "ws", share=True)  # N more, inputs shown
    monitor.wait_for_function(
        f"Number(document.querySelector('#b-{bundle.spec.id}').dataset.total) >= {before + N}",
        timeout=30_000,
    )
    monitor.wait_for_timeout(1500)  # the chart's points after the burst
    monitor.screenshot(path=str(shots / "monitor-page.png"), full_page=True)
    snapshot = monitor.evaluate("window.splitinferMonitor")
    monitor.close()
    entry = next(b for b in snapshot["bundles"] if b["bundle"] == bundle.spec.id)
    assert entry["total"] >= before + N and entry["tiles"] is not None
    assert entry["edge"]["mode"] == "split" and entry["edge"]["count"] == N  # the page's report
    assert entry["input"]["width"] == 28  # this run opted in


def test_pages_need_the_token(base_url: str) -> None:
    import httpx

    for path in ("/edge/", "/ui/", "/static/edge.js", "/v1/monitor/stats"):
        assert httpx.get(base_url + path).status_code == 401
    assert httpx.get(f"{base_url}/edge/?access_token={TOKEN}").status_code == 200
