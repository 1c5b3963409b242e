"""Loopback servers the benchmarks talk to, each run in its own process.

``python -m benchmarks._servers http [--delay S]`` answers every POST with
``200 ok`` (what Slack's incoming webhooks answer), and every PUT with a
Matrix event id, on a kept-alive HTTP/1.1 connection, after ``S`` seconds
if asked. ``GET /_count`` returns how many
POSTs it has received, so a benchmark can check every send arrived.

``python -m benchmarks._servers smtp`` is an SMTP sink: it accepts every
message (no TLS, no auth) and counts them; ``XCOUNT`` returns the count.

Both print their port on the first line of stdout and exit when stdin closes.
Stdlib asyncio only: a lean server keeps its own cost small, so a ratio of
two clients measures the clients.
"""

import argparse
import asyncio
import sys
from typing import List

__all__ = ("main",)

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
# A PUT is a Matrix event: the answer carries the event id Matrix gives.
_EVENT = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"event_id":"$e"}'


class _Counter:
    def __init__(self) -> None:
        self.value = 0


async def _http_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, counter: _Counter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            if method == "GET" and lines[0].split(" ")[1] == "/_count":
                body = str(counter.value).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
            else:
                counter.value += 1
                if delay:
                    await asyncio.sleep(delay)
                writer.write(_EVENT if method == "PUT" else _OK)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _smtp_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: _Counter) -> None:
    try:
        writer.write(b"220 sink ESMTP ready\r\n")
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250-SIZE 33554432\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                writer.write(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                while True:
                    data = await reader.readline()
                    if not data or data == b".\r\n":
                        break
                counter.value += 1
                writer.write(b"250 2.0.0 queued as %d\r\n" % counter.value)
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            elif verb == b"XCOU":
                writer.write(b"250 %d\r\n" % counter.value)
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                writer.write(b"250 OK\r\n")
            else:
                writer.write(b"502 command not implemented\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve(kind: str, delay: float) -> None:
    counter = _Counter()
    if kind == "http":

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await _http_client(r, w, delay, counter)

    else:

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await _smtp_client(r, w, counter)

    server = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=256)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    loop = asyncio.get_event_loop()  # the running one (get_running_loop is 3.7+)
    # Serve until the parent closes our stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks._servers")
    parser.add_argument("kind", choices=("http", "smtp"))
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each HTTP answer")
    args = parser.parse_args(argv)
    loop = asyncio.new_event_loop()  # asyncio.run is 3.7+
    try:
        loop.run_until_complete(_serve(args.kind, args.delay))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
