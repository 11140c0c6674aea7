"""Coverage-guided fuzzing (atheris, optional) of what the server does with a frame's bytes
before the model runs: ``wire.decode_frame``, routing, the bundle's codec ``decode`` and the
DataPlane's checks on the decoded feature.

    pip install atheris                      # optional; not needed by CI or the tests
    python -m reliability.atheris_fuzz --runs 200000 [--bundle DIR]

Half the inputs are whole frames, half are payloads framed correctly for the bundle (so
coverage feedback steers into the codec). Anything but a typed
:class:`~splitinfer.errors.SplitInferError` is a crash: atheris stops and prints the input.
Seeds: the golden frames and real frames of the bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--bundle", type=Path, default=None, help="bundle dir (default: the default)")
    p.add_argument("--runs", type=int, default=200_000, help="inputs to try")
    args = p.parse_args(argv)
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris): skipped")
        return 0
    with atheris.instrument_imports(include=["splitinfer"]):
        from reliability.fuzz import seed_corpus
        from splitinfer import wire
        from splitinfer.errors import SplitInferError
        from splitinfer.harness.workload import load_workload

    workload = load_workload(args.bundle, pool=16)
    b = workload.bundle

    def one_input(data: bytes) -> None:
        fdp: Any = atheris.FuzzedDataProvider(data)
        as_payload = fdp.ConsumeBool()
        rest = fdp.ConsumeBytes(fdp.remaining_bytes())
        if as_payload:
            header = wire.FrameHeader(request_id=1, bundle=b.fingerprint)
            rest = wire.encode_frame(header, rest[: wire.MAX_PAYLOAD_BYTES])
        with contextlib.suppress(SplitInferError):  # a typed refusal: fine
            b.cloud.decode(rest)  # the server's decode path

    with tempfile.TemporaryDirectory() as corpus:
        for i, frame in enumerate(seed_corpus(workload)):
            Path(corpus, f"frame-{i}").write_bytes(b"\0" + frame)
            with contextlib.suppress(SplitInferError):  # a result frame has no payload
                Path(corpus, f"payload-{i}").write_bytes(b"\1" + wire.decode_frame(frame)[1])
        atheris.Setup([sys.argv[0], f"-atheris_runs={args.runs}", corpus], one_input)
        atheris.Fuzz()  # exits the process when the runs are done (or on a crash)
    return 0


if __name__ == "__main__":
    sys.exit(main())
