"""Bearer-token check shared by the transports (constant-time comparison)."""

from __future__ import annotations

import hmac

from splitinfer.errors import AuthError


def check_bearer(authorization: str | None, token: str | None) -> None:
    """Raise AuthError unless ``authorization`` is ``Bearer <token>`` (no-op if no token)."""
    if token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise AuthError("wrong bearer token")
