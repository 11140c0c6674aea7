"""Access: bearer tokens on both transports, TLS, the loopback default, ``--insecure``, and
no secret in the logs.

    python -m reliability.access                 # a TLS server at --log-level trace

Each check returns ``{case: outcome}`` and a list of problems (empty: it holds).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from reliability.load import machine, write_report
from splitinfer.harness import server as srv
from splitinfer.harness.load import grpc_channel
from splitinfer.harness.workload import Workload, load_workload
from splitinfer.protocol import FRAME_TYPE, Result

Outcomes = dict[str, str]


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway EC P-256 certificate for ``host`` (an IP SAN) and its key, as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# --- tokens ----------------------------------------------------------------------------------


def _http_credentials(token: str) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """case -> (headers, query params); only the last case is right."""
    return {
        "no token": ({}, {}),
        "wrong token": ({"Authorization": "Bearer not-the-token"}, {}),
        "token without 'Bearer'": ({"Authorization": token}, {}),
        "Basic scheme": ({"Authorization": f"Basic {token}"}, {}),
        "token in X-Api-Key": ({"X-Api-Key": token}, {}),
        "token in the query": ({}, {"token": token, "access_token": token}),
        "token with a suffix": ({"Authorization": f"Bearer {token}x"}, {}),
        "right token": ({"Authorization": f"Bearer {token}"}, {}),
    }


def http_tokens(server: srv.Endpoint, workload: Workload) -> tuple[Outcomes, list[str]]:
    """Every protected route with every credential; probes need none."""
    assert server.token
    verify = server.verify()
    png = _png(workload)
    routes = {
        "infer": ("POST", workload.infer_path, workload.frame(7), FRAME_TYPE),
        "infer-image": ("POST", workload.infer_path + "-image", png, "image/png"),
        "bundles": ("GET", "/v1/bundles", b"", ""),
        "metrics": ("GET", "/metrics", b"", ""),
    }
    seen: Outcomes = {}
    problems: list[str] = []
    with httpx.Client(base_url=server.url, verify=verify, timeout=30) as client:
        for case, (headers, params) in _http_credentials(server.token).items():
            for route, (method, path, body, ctype) in routes.items():
                h = {**headers, **({"Content-Type": ctype} if ctype else {})}
                r = client.request(method, path, content=body or None, headers=h, params=params)
                seen[f"http {route}, {case}"] = str(r.status_code)
                want = 200 if case == "right token" else 401
                if r.status_code != want:
                    problems.append(f"http {route} with {case}: {r.status_code}, want {want}")
                if r.status_code == 401 and r.headers.get("www-authenticate") != "Bearer":
                    problems.append(f"http {route} with {case}: 401 without WWW-Authenticate")
                if server.token in r.text:
                    problems.append(f"http {route} with {case}: the token is in the answer")
        for probe in ("/healthz", "/readyz"):
            r = client.get(probe)
            seen[f"http {probe}, no token"] = str(r.status_code)
            if r.status_code != 200:
                problems.append(f"{probe} needs no token but got {r.status_code}")
    return seen, problems


def _png(workload: Workload) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(workload.images[0, 0].numpy(), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def grpc_tokens(server: srv.Endpoint, workload: Workload) -> tuple[Outcomes, list[str]]:
    """Infer, InferStream and ListBundles with every credential."""
    assert server.token
    token = server.token
    cases = {
        "no token": (),
        "wrong token": (("authorization", "Bearer not-the-token"),),
        "token without 'Bearer'": (("authorization", token),),
        "token in x-api-key": (("x-api-key", token),),
        "right token": (("authorization", f"Bearer {token}"),),
    }
    seen: Outcomes = asyncio.run(_grpc_calls(server, workload, cases))
    problems = []
    for name, got in seen.items():
        want = "OK" if name.endswith("right token") else "UNAUTHENTICATED"
        if got != want:
            problems.append(f"{name}: {got}, want {want}")
    return seen, problems


async def _grpc_calls(
    server: srv.Endpoint, workload: Workload, cases: dict[str, tuple[tuple[str, str], ...]]
) -> Outcomes:
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb
    from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

    seen: Outcomes = {}
    async with grpc_channel(server.grpc_target, server.tls_cert) as channel:
        stub = pb_grpc.SplitInferenceStub(channel)

        async def one_stream(md: Any) -> Any:
            async def frames() -> Any:
                yield pb.InferRequest(frame=workload.frame(8))

            return [r async for r in stub.InferStream(frames(), metadata=md, timeout=30)]

        for case, md in cases.items():
            calls = {
                "Infer": lambda md=md: stub.Infer(
                    pb.InferRequest(frame=workload.frame(9)), metadata=md, timeout=30
                ),
                "InferStream": lambda md=md: one_stream(md),
                "ListBundles": lambda md=md: stub.ListBundles(
                    pb.ListBundlesRequest(), metadata=md, timeout=30
                ),
            }
            for rpc, call in calls.items():
                try:
                    await call()
                    seen[f"grpc {rpc}, {case}"] = "OK"
                except grpc.aio.AioRpcError as err:
                    seen[f"grpc {rpc}, {case}"] = err.code().name
    return seen


# --- TLS -------------------------------------------------------------------------------------


def tls_checks(server: srv.Endpoint, workload: Workload) -> tuple[Outcomes, list[str]]:
    """A TLS server: trusted HTTPS and gRPC-over-TLS work; plain text and untrusted
    certificates fail; the token is still required."""
    assert server.tls_cert is not None
    seen: Outcomes = {}
    path = server.url + workload.infer_path
    frame = workload.frame(3)
    trusted = server.verify()
    attempts: dict[str, Any] = {
        "https, trusted CA, token": lambda: httpx.post(
            path, content=frame, headers=server.headers, verify=trusted, timeout=30
        ),
        "https, trusted CA, no token": lambda: httpx.post(
            path, content=frame, verify=trusted, timeout=30
        ),
        "https, system CAs only": lambda: httpx.post(
            path, content=frame, headers=server.headers, timeout=30
        ),
        "plain http to the TLS port": lambda: httpx.post(
            path.replace("https://", "http://"), content=frame, headers=server.headers, timeout=30
        ),
    }
    for case, call in attempts.items():
        try:
            seen[case] = str(call().status_code)
        except httpx.HTTPError as err:
            seen[case] = f"refused ({type(err).__name__})"
    if server.grpc_port is not None:
        seen.update(asyncio.run(_grpc_tls(server, workload)))
    want = {
        "https, trusted CA, token": "200",
        "https, trusted CA, no token": "401",
        "https, system CAs only": "refused",
        "plain http to the TLS port": "refused",
        "grpcs, trusted CA, token": "OK",
        "grpc without TLS to the TLS port": "UNAVAILABLE",
    }
    problems = [
        f"{case}: {got}, want {want[case]}"
        for case, got in seen.items()
        if case in want and not got.startswith(want[case])
    ]
    return seen, problems


async def _grpc_tls(server: srv.Endpoint, workload: Workload) -> Outcomes:
    import grpc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb
    from splitinfer.protocol.pb import splitinfer_pb2_grpc as pb_grpc

    seen: Outcomes = {}
    for case, cert in (
        ("grpcs, trusted CA, token", server.tls_cert),
        ("grpc without TLS to the TLS port", None),
    ):
        async with grpc_channel(server.grpc_target, cert) as channel:
            stub = pb_grpc.SplitInferenceStub(channel)
            try:
                reply = await stub.Infer(
                    pb.InferRequest(frame=workload.frame(4)),
                    metadata=server.grpc_metadata,
                    timeout=10,
                )
                right = Result.from_proto(reply).top == workload.answer(4)
                seen[case] = "OK" if right else "OK but wrong answer"
            except grpc.aio.AioRpcError as err:
                seen[case] = err.code().name
    return seen


# --- bind, --insecure, secrets ---------------------------------------------------------------


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp{,6})."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(_hex_ip(addr))
    return found


def _hex_ip(addr: str) -> str:
    raw = bytes.fromhex(addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def _loopback(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 (gRPC binds that way)
    return bool((mapped or ip).is_loopback)


def bind_checks(server: srv.Endpoint) -> tuple[Outcomes, list[str]]:
    """A server started without ``--host`` listens on loopback only (HTTP and gRPC)."""
    seen: Outcomes = {}
    problems = []
    ports = {"http": server.port, "grpc": server.grpc_port}
    for name, port in ports.items():
        if port is None:
            continue
        addrs = listening_addresses(port)
        seen[f"{name} port {port} listens on"] = ", ".join(addrs) or "(nothing found)"
        if not addrs or not all(_loopback(a) for a in addrs):
            problems.append(f"{name} listens on {addrs}: not loopback only")
    return seen, problems


def insecure_checks(bundle_dir: Path) -> tuple[Outcomes, list[str]]:
    """``serve --host 0.0.0.0``: refused without a token, passes the check with
    ``--insecure`` or a token (we stop it at the next step with a missing bundle)."""
    missing = str(bundle_dir.parent / "no-such-bundle-here")
    cases = {
        "0.0.0.0, no token": (["--host", "0.0.0.0", "--bundle", missing], {}),
        "0.0.0.0, --insecure": (["--host", "0.0.0.0", "--insecure", "--bundle", missing], {}),
        "0.0.0.0, token": (
            ["--host", "0.0.0.0", "--bundle", missing],
            {"SPLITINFER_TOKEN": "t" * 32},
        ),
        "::, no token": (["--host", "::", "--bundle", missing], {}),
    }
    seen: Outcomes = {}
    for case, (args, env) in cases.items():
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPLITINFER_")}
        proc = subprocess.run(
            [*srv.SERVE, "--port", str(srv.free_port()), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**base, **env},
        )
        seen[case] = f"exit {proc.returncode}: {' '.join(proc.stderr.split())[:160]}"
    problems = []
    for case, got in seen.items():
        refused = "without authentication" in got
        if refused != case.endswith("no token") or not got.startswith("exit 2"):
            problems.append(f"{case}: {got}")
    return seen, problems


def secret_checks(server: srv.ServeProcess) -> tuple[Outcomes, list[str]]:
    """The token is nowhere in the server's output, command line, metrics or listing."""
    assert server.token
    auth = {"Authorization": f"Bearer {server.token}"}
    places = {
        "server log": server.log_text(),
        "command line (/proc/<pid>/cmdline)": _cmdline(server.pid),
        "/metrics": httpx.get(f"{server.url}/metrics", headers=auth, verify=server.verify()).text,
        "/v1/bundles": httpx.get(
            f"{server.url}/v1/bundles", headers=auth, verify=server.verify()
        ).text,
    }
    seen = {
        place: ("LEAKS THE TOKEN" if server.token in text else f"clean ({len(text):,} chars)")
        for place, text in places.items()
    }
    problems = [f"token found in the {p}" for p, v in seen.items() if v.startswith("LEAKS")]
    return seen, problems


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# --- the command ---------------------------------------------------------------------------


def _checks(
    server: srv.ServeProcess, workload: Workload
) -> Iterator[tuple[str, Outcomes, list[str]]]:
    yield "http tokens", *http_tokens(server, workload)
    yield "grpc tokens", *grpc_tokens(server, workload)
    yield "tls", *tls_checks(server, workload)
    yield "bind", *bind_checks(server)
    yield "secrets", *secret_checks(server)
    yield "--insecure", *insecure_checks(workload.bundle_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=None, help="bundle dir (default: the default)")
    p.add_argument("--json", type=Path, default=Path("reports/reliability/access.json"))
    args = p.parse_args(argv)
    workload = load_workload(args.bundle, pool=16)
    token = os.urandom(24).hex()
    results: dict[str, Any] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tls = self_signed(Path(tmp))
        extra = ["--log-level", "trace", "--torch-threads", "1"]
        with srv.serve(workload.bundle_dir, token=token, extra=extra, tls=tls) as server:
            for name, seen, found in _checks(server, workload):
                results[name] = seen
                problems += found
                print(
                    f"{'ok  ' if not found else 'FAIL'} {name}: {len(seen)} cases"
                    + ("" if not found else f"; {found[:3]}"),
                    flush=True,
                )
            lines = len(server.log_text().splitlines())
    print(
        f"server log at --log-level trace: {lines:,} lines, token absent: "
        f"{results['secrets']['server log'].startswith('clean')}"
    )
    ok = not problems
    out = {"machine": machine(), "results": results, "problems": problems, "passed": ok}
    return write_report(args.json, out, ok)


if __name__ == "__main__":
    sys.exit(main())
