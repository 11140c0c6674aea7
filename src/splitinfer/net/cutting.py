"""A TCP proxy that cuts connections mid-frame or mid-answer with a reset: the link fault
of the reliability checks (``reliability/faults/link.py``), beside the link emulator.

    client -> CuttingProxy (counts frames by their magic; every k-th: reset) -> server
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from splitinfer import wire
from splitinfer.net.connection import reset


class CuttingProxy:
    """A TCP proxy that resets its connections in the middle of every ``every``-th frame.

    It counts frames by their magic in the client -> server bytes; the k-th frame (k a
    multiple of ``every``) is forwarded only up to ``cut_after`` bytes past its magic, then
    both sides get a TCP reset. With ``answers=True`` it cuts the server's answer to such
    a request instead (after its first 20 bytes): the server did the work, the client
    never hears it.
    """

    def __init__(
        self, upstream: tuple[str, int], every: int = 4, cut_after: int = 6, answers: bool = False
    ) -> None:
        self.upstream = upstream
        self.every = every
        self.cut_after = cut_after
        self.answers = answers
        self.frames = 0
        self.cuts = 0
        self._cut_answer = False
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None

    async def _pipe_up(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while data := await src.read(65536):
            at = data.find(wire.MAGIC + bytes((wire.VERSION,)))
            if at >= 0:
                self.frames += 1
                if self.frames % self.every == 0:
                    self.cuts += 1
                    if not self.answers:
                        dst.write(data[: at + self.cut_after])
                        await dst.drain()
                        cut.set()
                        return
                    self._cut_answer = True
            dst.write(data)
            await dst.drain()

    async def _pipe_down(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: asyncio.Event
    ) -> None:
        while data := await src.read(65536):
            if self._cut_answer:
                self._cut_answer = False
                dst.write(data[:20])
                await dst.drain()
                cut.set()
                return
            dst.write(data)
            await dst.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        cut = asyncio.Event()
        tasks = [
            asyncio.ensure_future(self._pipe_up(reader, up_w, cut)),
            asyncio.ensure_future(self._pipe_down(up_r, writer, cut)),
            asyncio.ensure_future(cut.wait()),
        ]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        if cut.is_set():
            reset(writer)
            reset(up_w)
        writer.close()
        up_w.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        thread = threading.Thread(target=main, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self.port
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
