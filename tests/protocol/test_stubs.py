"""The checked-in gRPC stubs are what proto/splitinfer.proto compiles to (``make proto``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools (dev extra) not here"
)
def test_stubs_match_the_proto(tmp_path: Path) -> None:
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    from splitinfer.protocol.pb import splitinfer_pb2 as pb

    out = tmp_path / "set.pb"
    rc = protoc.main(
        [
            "protoc",
            f"-Isplitinfer/protocol/pb={ROOT / 'proto'}",
            f"--descriptor_set_out={out}",
            "splitinfer/protocol/pb/splitinfer.proto",
        ]
    )
    assert rc == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in compiled.message_type:  # protoc's Python output leaves these out
        for field in message.field:
            field.ClearField("json_name")
    checked_in = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    assert checked_in == compiled, "the stubs are stale: run `make proto`"
