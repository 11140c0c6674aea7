# ruff: noqa
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InferRequest(_message.Message):
    __slots__ = ("bundle_id", "frame", "top_k")
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    bundle_id: str
    frame: bytes
    top_k: int
    def __init__(
        self,
        bundle_id: _Optional[str] = ...,
        frame: _Optional[bytes] = ...,
        top_k: _Optional[int] = ...,
    ) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("class_id", "class_name", "score")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    class_id: int
    class_name: str
    score: float
    def __init__(
        self,
        class_id: _Optional[int] = ...,
        class_name: _Optional[str] = ...,
        score: _Optional[float] = ...,
    ) -> None: ...

class Timing(_message.Message):
    __slots__ = ("queue_ms", "decode_ms", "compute_ms", "total_ms", "batch_size")
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    queue_ms: float
    decode_ms: float
    compute_ms: float
    total_ms: float
    batch_size: int
    def __init__(
        self,
        queue_ms: _Optional[float] = ...,
        decode_ms: _Optional[float] = ...,
        compute_ms: _Optional[float] = ...,
        total_ms: _Optional[float] = ...,
        batch_size: _Optional[int] = ...,
    ) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class InferResponse(_message.Message):
    __slots__ = ("request_id", "bundle_id", "top", "timing", "error", "sequence")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    bundle_id: str
    top: _containers.RepeatedCompositeFieldContainer[Prediction]
    timing: Timing
    error: Error
    sequence: int
    def __init__(
        self,
        request_id: _Optional[int] = ...,
        bundle_id: _Optional[str] = ...,
        top: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...,
        timing: _Optional[_Union[Timing, _Mapping]] = ...,
        error: _Optional[_Union[Error, _Mapping]] = ...,
        sequence: _Optional[int] = ...,
    ) -> None: ...

class ListBundlesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Bundle(_message.Message):
    __slots__ = ("id", "fingerprint", "model", "cut", "codec", "classes")
    ID_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CUT_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    id: str
    fingerprint: str
    model: str
    cut: str
    codec: str
    classes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(
        self,
        id: _Optional[str] = ...,
        fingerprint: _Optional[str] = ...,
        model: _Optional[str] = ...,
        cut: _Optional[str] = ...,
        codec: _Optional[str] = ...,
        classes: _Optional[_Iterable[str]] = ...,
    ) -> None: ...

class ListBundlesResponse(_message.Message):
    __slots__ = ("bundles",)
    BUNDLES_FIELD_NUMBER: _ClassVar[int]
    bundles: _containers.RepeatedCompositeFieldContainer[Bundle]
    def __init__(self, bundles: _Optional[_Iterable[_Union[Bundle, _Mapping]]] = ...) -> None: ...
