"""An attacker in its own process: N connections at once, each starting a request whose Cookie
header runs for SIZE bytes and never ends. Prints the first line of each answer, one per line.

    python -m tests.edge.header_flood URL N SIZE
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

CHUNK = b"a" * 65536


async def endless_header(host: str, port: int, size: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: edge\r\nCookie: ")
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < size:
            writer.write(CHUNK)
            await writer.drain()
            sent += len(CHUNK)
    answer = await asyncio.wait_for(reader.read(), 10)  # until the edge closes
    writer.close()
    return answer.split(b"\r\n", 1)[0]


async def main(url: str, connections: int, size: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    answers = await asyncio.gather(
        *(endless_header(host, int(port), size) for _ in range(connections))
    )
    sys.stdout.write("".join(a.decode("latin-1") + "\n" for a in answers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
