"""The browser routes: pages behind the token, --no-ui, the ONNX halves with their
fingerprint tag, the coder's tables, and a clear refusal for what a browser cannot run."""

from __future__ import annotations

import httpx
import pytest

from splitinfer.bundle import Bundle
from splitinfer.cloud.pages import COOKIE
from tests.cloud.helpers import TOKEN, running

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_pages_follow_the_token_rules(bundle: Bundle) -> None:
    with running(bundle) as (url, _, _):
        for path in ("/edge/", "/ui/", "/static/edge.js", "/v1/monitor/stats"):
            assert httpx.get(url + path).status_code == 401, path
            assert httpx.get(url + path, headers=AUTH).status_code == 200, path
        r = httpx.get(f"{url}/ui/?access_token={TOKEN}")
        assert r.status_code == 200 and r.cookies.get(COOKIE) == TOKEN
        assert httpx.get(f"{url}/static/monitor.js", cookies={COOKIE: TOKEN}).status_code == 200
        assert httpx.get(f"{url}/ui/?access_token=wrong").status_code == 401
        assert httpx.get(f"{url}/static/../pages.py", headers=AUTH).status_code == 404


def test_no_ui_turns_the_pages_off(bundle: Bundle) -> None:
    with running(bundle, server={"ui": False}) as (url, _, _):
        assert httpx.get(url + "/edge/", headers=AUTH).status_code == 404
        assert httpx.get(url + "/ui/", headers=AUTH).status_code == 404


def test_edge_onnx_is_exported_once_and_tagged_with_the_fingerprint(bundle: Bundle) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort
    import torch

    from splitinfer.data import synthetic

    with running(bundle) as (url, _, _):
        path = f"{url}/v1/bundles/{bundle.spec.id}/edge.onnx"
        first = httpx.get(path, headers=AUTH, timeout=120)  # the export takes seconds
        second = httpx.get(path, headers=AUTH, timeout=120)
    assert first.status_code == 200 and first.content == second.content
    assert first.headers["etag"] == f'"{bundle.fingerprint:08x}-edge"'
    session = ort.InferenceSession(first.content)
    images = synthetic(2, seed=1)[0]
    got = session.run(None, {"images": images.numpy()})[0]
    want = bundle.edge.features(images)
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-4)


def test_a_bundle_the_browser_cannot_code_is_refused_with_a_clear_message(
    bundle: Bundle,
) -> None:
    with running(bundle) as (url, _, _):
        for what in ("edge.json", "full.onnx"):
            r = httpx.get(f"{url}/v1/bundles/{bundle.spec.id}/{what}", headers=AUTH, timeout=120)
            assert r.status_code == 422 and r.json()["error"] == "no_edge_export", what
            assert bundle.spec.id in r.json()["message"]


def test_an_edge_report_shows_on_the_monitor_and_bad_ones_are_refused(bundle: Bundle) -> None:
    good = {"bundle": bundle.spec.id, "mode": "split", "transport": "ws", "count": 100,
            "head_ms": 1.5, "encode_ms": 0.1, "network_ms": 20.0}  # fmt: skip
    with running(bundle) as (url, _, _):
        path = f"{url}/v1/monitor/edge-report"
        assert httpx.post(path, json=good).status_code == 401
        assert httpx.post(path, json=good, headers=AUTH).status_code == 200
        for bad in ({**good, "head_ms": -1}, {**good, "bundle": "nope"}, {**good, "x": 1}, []):
            r = httpx.post(path, json=bad, headers=AUTH)
            assert r.status_code == 400 and r.json()["error"] == "bad_input", bad
        stats = httpx.get(f"{url}/v1/monitor/stats", headers=AUTH).json()
    edge = stats["bundles"][0]["edge"]
    assert (edge["mode"], edge["head_ms"], edge["network_ms"]) == ("split", 1.5, 20.0)


def test_the_input_reaches_the_monitor_only_when_a_client_shares_it(bundle: Bundle) -> None:
    with running(bundle) as (url, _, _):
        stats = f"{url}/v1/monitor/stats"
        assert httpx.get(stats, headers=AUTH).json()["bundles"][0]["input"] is None
        path = f"{url}/v1/monitor/input/{bundle.spec.id}"
        assert httpx.post(path, content=bytes(784)).status_code == 401
        assert httpx.post(path, content=bytes(10), headers=AUTH).status_code == 400
        assert httpx.post(path, content=bytes(range(256)) * 3 + bytes(16), headers=AUTH).is_success
        shared = httpx.get(stats, headers=AUTH).json()["bundles"][0]["input"]
    assert (shared["height"], shared["width"], shared["pixels"][:3]) == (28, 28, [0, 1, 2])
