"""A TCP proxy on 127.0.0.1 in front of a database server that delays every byte by a set time
each way (a workstation on a VPN, 20–40 ms from the server) and counts the round trips.

A round trip is a burst of bytes from the client followed by the server's answer: counted when
the server's first bytes after a client burst arrive at the proxy (before they are passed on, so
the count is complete by the time the client has its answer). Bytes the client sends that get no
answer (PostgreSQL's Terminate, MariaDB's COM_QUIT) are not a trip. A server that speaks first
on a new connection (MariaDB's greeting) makes the client wait for it as for an answer: that
counts as a trip too (on a real line the TCP handshake before it costs one more, for every
engine alike, which no proxy on this machine adds).

The proxy runs its own asyncio event loop in a process of its own (a line does not wait for the
client's Python: in a thread, it would wait for the interpreter's lock, up to 5 ms at a time,
whenever the client computes); ``LatencyProxy`` is a context manager. The counts live in shared
memory, so that the connection handshake (made before the measured work) can be told apart:
``mark()`` then ``since(mark)``.

Used by ``tests/perf/test_round_trips.py`` (to check the statement counter of
``tests.helpers.round_trips``) and by ``bench/round_trips.py`` (round trips and time at 0, 10 and
30 ms).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from types import TracebackType
from typing import Any

from sqlalchemy.engine import URL, make_url

_CHUNK = 65536


@dataclass
class _Link:
    """One proxied connection: who spoke last."""

    # As if the client had asked: a server's first words on a new connection are waited for.
    client_spoke_last: bool = True


class LatencyProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``, each way ``delay_s``
    late, counting round trips (a client burst, then the server's answer)."""

    def __init__(self, target_host: str, target_port: int, delay_s: float = 0.0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay_s = delay_s
        self.port = 0
        context = multiprocessing.get_context("spawn")
        self._trips: Synchronized[int] = context.Value("q", 0)
        self._connections: Synchronized[int] = context.Value("q", 0)
        self._port: Synchronized[int] = context.Value("i", 0)
        self._ready = context.Event()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve,
            args=(
                target_host,
                target_port,
                delay_s,
                self._trips,
                self._connections,
                self._port,
                self._ready,
                self._stop,
            ),
            daemon=True,
        )

    # ----- counts ---------------------------------------------------------------------------

    @property
    def trips(self) -> int:
        """Round trips on every connection so far."""
        return int(self._trips.value)

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return int(self._connections.value)

    def mark(self) -> int:
        return self.trips

    def since(self, mark: int) -> int:
        return self.trips - mark

    # ----- the proxy ------------------------------------------------------------------------

    def url_for(self, url: str | URL) -> URL:
        """``url`` with its host and port replaced by the proxy's."""
        return make_url(url).set(host="127.0.0.1", port=self.port)

    def __enter__(self) -> LatencyProxy:
        self._process.start()
        if not self._ready.wait(30):
            self._process.kill()
            raise RuntimeError("the latency proxy did not start")
        self.port = int(self._port.value)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def _serve(
    target_host: str,
    target_port: int,
    delay_s: float,
    trips: Any,
    connections: Any,
    port: Any,
    ready: Any,
    stop: Any,
) -> None:
    """The proxy's process: serve until ``stop`` is set."""
    asyncio.run(
        _Proxy(target_host, target_port, delay_s, trips, connections).run(port, ready, stop)
    )


class _Proxy:
    def __init__(
        self, target_host: str, target_port: int, delay_s: float, trips: Any, connections: Any
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay_s = delay_s
        self.trips = trips
        self.connections = connections
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, port: Any, ready: Any, stop: Any) -> None:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port.value = int(server.sockets[0].getsockname()[1])
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.02)
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = _Link()
        with self.connections.get_lock():
            self.connections.value += 1
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, link, from_client=True),
                self._pipe(server_r, client_w, link, from_client=False),
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_w, server_w):
                writer.close()
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        from_client: bool,
    ) -> None:
        """Read, count, and pass each chunk on ``delay_s`` after it arrived (in order; chunks
        in flight overlap, as on a real line)."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send_later(queue, writer))
        try:
            while data := await reader.read(_CHUNK):
                if from_client:
                    link.client_spoke_last = True
                elif link.client_spoke_last:
                    link.client_spoke_last = False
                    with self.trips.get_lock():
                        self.trips.value += 1
                queue.put_nowait((time.monotonic() + self.delay_s, data))
        finally:
            queue.put_nowait((0.0, b""))
            await sender

    @staticmethod
    async def _send_later(
        queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            due, data = await queue.get()
            if not data:
                if writer.can_write_eof():
                    with suppress(OSError):
                        writer.write_eof()
                return
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()


@contextmanager
def proxied(url: str | URL, delay_s: float = 0.0) -> Iterator[tuple[LatencyProxy, URL]]:
    """A proxy in front of ``url``'s server, and ``url`` through it."""
    parsed = make_url(url)
    default_port = 5432 if parsed.get_backend_name() == "postgresql" else 3306
    with LatencyProxy(parsed.host or "127.0.0.1", parsed.port or default_port, delay_s) as proxy:
        yield proxy, proxy.url_for(parsed)
