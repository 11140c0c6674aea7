"""``host:port`` addresses for the link emulator: parsed once, validated, typed."""

from __future__ import annotations

from splitinfer.net.errors import BadAddress

Address = tuple[str, int]


def parse_address(value: str | tuple[str, int]) -> Address:
    """``"127.0.0.1:9001"``, ``"[::1]:9001"`` or ``("127.0.0.1", 9001)`` -> ``(host, port)``.

    Port 0 is allowed (the system picks a free port when listening). Raises
    :class:`BadAddress` for anything else.
    """
    if isinstance(value, tuple):
        if len(value) != 2:
            raise BadAddress(f"address {value!r}: expected (host, port)")
        host, port = value
        return _checked(str(value), host, port)
    if not isinstance(value, str):
        raise BadAddress(f"address {value!r}: expected 'host:port' or (host, port)")
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise BadAddress(f"address {value!r}: expected '[ipv6]:port', e.g. '[::1]:9001'")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise BadAddress(
                f"address {value!r}: expected 'host:port', e.g. '127.0.0.1:9001' "
                "(IPv6 in brackets: '[::1]:9001')"
            )
    try:
        port = int(port_text)
    except ValueError:
        raise BadAddress(f"address {value!r}: port {port_text!r} is not a number") from None
    return _checked(value, host, port)


def _checked(shown: str, host: object, port: object) -> Address:
    if not isinstance(host, str) or not host:
        raise BadAddress(f"address {shown!r}: empty or non-string host")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise BadAddress(f"address {shown!r}: port must be an integer in 0..65535")
    return host, port


def format_address(address: Address) -> str:
    """The inverse of :func:`parse_address` (IPv6 hosts in brackets)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
