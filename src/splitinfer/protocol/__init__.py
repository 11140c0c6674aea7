"""What a client and a server must agree on, beyond the byte layout of frames (wire.py).

``session``: the session framing of the WebSocket stream (``/v1/stream``) and its close
codes.
"""
