"""Server settings: flags override ``SPLITINFER_*`` environment variables, which override
the defaults (pydantic-settings). ``SPLITINFER_BUNDLES`` takes a JSON list of paths."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from splitinfer import wire
from splitinfer.cloud.images import MAX_IMAGE_PIXELS
from splitinfer.errors import BadInput


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServeSettings(BaseSettings):
    """Everything ``splitinfer serve`` can be told."""

    model_config = SettingsConfigDict(env_prefix="SPLITINFER_", extra="forbid")

    bundles: list[Path] = Field(default_factory=list, description="Bundle directories to serve.")
    host: str = Field("127.0.0.1", description="Address to bind; non-loopback needs a token.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port).")
    grpc_port: int | None = Field(
        None, ge=0, le=65535, description="Also serve gRPC on this port (None: no gRPC)."
    )
    max_batch: int = Field(16, ge=1, description="Most requests per model run.")
    max_wait_ms: float = Field(
        0.0, ge=0, description="Longest wait for a batch to fill (0: take what queued up)."
    )
    max_queue: int = Field(256, ge=1, description="Most requests waiting; beyond: 503.")
    torch_threads: int | None = Field(None, ge=1, description="torch threads of the worker.")
    top_k: int = Field(5, ge=1, description="Classes returned per result by default.")
    max_body_bytes: int = Field(
        wire.MAX_FRAME_BYTES, ge=1, description="Largest request body; beyond: 413."
    )
    max_image_pixels: int = Field(
        MAX_IMAGE_PIXELS, ge=1, description="Largest width x height for infer-image."
    )
    token: SecretStr | None = Field(None, description="Bearer token clients must send.")
    insecure: bool = Field(False, description="Allow a non-loopback bind without a token.")
    tls_cert: Path | None = Field(None, description="PEM certificate: serve HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key for tls_cert.")
    drain_timeout_s: float = Field(30.0, ge=0, description="Grace period on SIGTERM.")
    workers: int = Field(
        1, ge=1, le=64, description="Server processes sharing the port (SO_REUSEPORT)."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Deadline to receive a request body, and to answer it."
    )
    ui: bool = Field(True, description="Serve the edge page (/edge/) and the monitor (/ui/).")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="uvicorn log level."
    )

    def check(self) -> None:
        """Refuse unsafe or incomplete settings with a message that says what to do."""
        if not self.bundles:
            raise BadInput("no bundle to serve: pass --bundle PATH (or SPLITINFER_BUNDLES)")
        if self.token is not None and not self.token.get_secret_value():
            raise BadInput("the token is empty; set a real one or leave it unset")
        if not is_loopback(self.host) and self.token is None and not self.insecure:
            raise BadInput(
                f"refusing to serve on {self.host} without authentication: set --token "
                "(or SPLITINFER_TOKEN), or pass --insecure if something else protects it"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise BadInput("TLS needs both --tls-cert and --tls-key")
        if self.workers > 1 and (self.port == 0 or self.grpc_port == 0):
            raise BadInput("--workers > 1 needs fixed ports (the processes share them)")

    @property
    def token_value(self) -> str | None:
        """The token as plain text (None when auth is off)."""
        return None if self.token is None else self.token.get_secret_value()
