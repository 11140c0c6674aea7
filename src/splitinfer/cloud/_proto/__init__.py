"""Generated gRPC / protobuf code for ``proto/splitinfer.proto`` (do not edit by hand).

Regenerate after changing the .proto (needs ``pip install grpcio-tools``; the generated
code then needs grpcio and protobuf at least as new as the ones that generated it)::

    python -m grpc_tools.protoc -Isplitinfer/cloud/_proto=proto \\
        --python_out=src --pyi_out=src --grpc_python_out=src \\
        splitinfer/cloud/_proto/splitinfer.proto
    cd src/splitinfer/cloud/_proto
    sed -i '1i # ruff: noqa\\n# mypy: ignore-errors' splitinfer_pb2.py splitinfer_pb2_grpc.py
    sed -i '1i # ruff: noqa' splitinfer_pb2.pyi
    cd - && ruff format src/splitinfer/cloud/_proto

The ``-I<virtual>=<dir>`` mapping makes the generated imports absolute
(``from splitinfer.cloud._proto import splitinfer_pb2``), so nothing needs patching.
"""
