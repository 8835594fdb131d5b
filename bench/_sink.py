"""A fast HTTP sink for the benchmark, run in its own process.

Every request gets ``200 ok`` in ONE write on a keep-alive connection (http.server's separate
header/body writes meet Nagle + delayed ACK and stall 40 ms). ``GET /__stats`` answers with
JSON counts: requests, distinct Idempotency-Keys, and repeats of a key already seen.

    python bench/_sink.py [--port 0]     # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import signal

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
STATS_PATH = b"/__stats"


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.keys: set[bytes] = set()
        self.repeats = 0

    def count(self, key: bytes | None) -> None:
        self.requests += 1
        if key is None:
            return
        if key in self.keys:
            self.repeats += 1
        else:
            self.keys.add(key)

    def as_json(self) -> bytes:
        body = json.dumps(
            {"requests": self.requests, "keys": len(self.keys), "repeats": self.repeats}
        ).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        return head + body


class SinkProtocol(asyncio.Protocol):
    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buffer[:end]
            length, key = _parse_head(head)
            total = end + 4 + length
            if len(self.buffer) < total:
                break
            self.buffer = self.buffer[total:]
            if head.split(b" ", 2)[1:2] == [STATS_PATH]:
                replies.append(self.counters.as_json())
            else:
                self.counters.count(key)
                replies.append(OK)
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))


def _parse_head(head: bytes) -> tuple[int, bytes | None]:
    length, key = 0, None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"idempotency-key":
            key = value.strip()
    return length, key


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters()
    server = await loop.create_server(
        lambda: SinkProtocol(counters), "127.0.0.1", port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def sink_stats(port: int) -> dict[str, int]:
    """The sink's counters (requests, keys, repeats) so far."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", STATS_PATH.decode())
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fast keep-alive HTTP sink")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
