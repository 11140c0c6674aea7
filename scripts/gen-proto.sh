#!/usr/bin/env bash
# Regenerate the checked-in gRPC / protobuf code of splitinfer.protocol.pb from
# proto/splitinfer.proto (needs grpcio-tools, in the `dev` extra). Run from the repository
# root: `make proto`. tests/protocol/test_stubs.py fails while the stubs and the .proto differ.
set -euo pipefail
PY=${PY:-python}
RUFF=${RUFF:-ruff}
OUT=src/splitinfer/protocol/pb
# The -I<virtual>=<dir> mapping makes the generated imports absolute
# (`from splitinfer.protocol.pb import splitinfer_pb2`), so nothing needs patching.
"$PY" -m grpc_tools.protoc -Isplitinfer/protocol/pb=proto \
  --python_out=src --pyi_out=src --grpc_python_out=src \
  splitinfer/protocol/pb/splitinfer.proto
sed -i '1i # ruff: noqa\n# mypy: ignore-errors' "$OUT/splitinfer_pb2.py" "$OUT/splitinfer_pb2_grpc.py"
sed -i '1i # ruff: noqa' "$OUT/splitinfer_pb2.pyi"
"$RUFF" format -q "$OUT"
echo "regenerated $OUT from proto/splitinfer.proto"
