"""Generated gRPC / protobuf code for ``proto/splitinfer.proto`` (do not edit by hand).

Regenerate after changing the .proto with ``make proto`` (``scripts/gen-proto.sh``; needs
grpcio-tools from the ``dev`` extra; the generated code then needs grpcio and protobuf at
least as new as the ones that generated it). ``tests/protocol/test_stubs.py`` fails while
these files and the .proto disagree.

    from splitinfer.protocol.pb import splitinfer_pb2 as pb, splitinfer_pb2_grpc as pb_grpc
"""
