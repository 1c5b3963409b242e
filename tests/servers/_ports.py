"""Loopback ports for the servers the tests start: a free one, and whether one listens yet."""

import socket


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody holds on 127.0.0.1 right now (TCP by default, or ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether a TCP server accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
