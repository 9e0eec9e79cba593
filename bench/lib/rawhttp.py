"""A minimal HTTP/1.1 client on plain blocking sockets.

The load generator shares the machine's cores with the server it measures, so every
request must cost the client as little CPU as possible: requests are pre-encoded bytes,
responses are parsed just enough to find their status, headers and body.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

HEAD_END = b"\r\n\r\n"


class EmptyResponse(ConnectionError):
    """The server closed the connection before sending any byte of a response."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def build_request(
    method: str,
    path: str,
    host: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    close: bool = False,
) -> bytes:
    """Encode one request; `close` asks the server to close the connection after it."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Connection:
    """One client connection, reopened when the server (or the caller) closes it."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def request(self, raw: bytes) -> Response:
        """Send pre-encoded request bytes and read the whole response."""
        reused = self.sock is not None
        try:
            return self._exchange(raw)
        except (EmptyResponse, ConnectionResetError, BrokenPipeError):
            # A kept-alive connection the server has closed meanwhile: retry once.
            self.close()
            if not reused:
                raise
            return self._exchange(raw)

    def _exchange(self, raw: bytes) -> Response:
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
        self.sock.sendall(raw)
        return self._read_response()

    def _recv(self) -> bytes:
        assert self.sock is not None
        return self.sock.recv(262144)

    def _read_response(self) -> Response:
        end = self.buf.find(HEAD_END)
        while end < 0:
            chunk = self._recv()
            if not chunk:
                if self.buf:
                    raise ConnectionError("connection closed inside the response head")
                raise EmptyResponse("connection closed before the response")
            self.buf += chunk
            end = self.buf.find(HEAD_END)
        head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4 :]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()

        if status < 200 or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self._read_to_close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def _read_exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("connection closed inside the response body")
            self.buf += chunk
        body, self.buf = self.buf[:size], self.buf[size:]
        return body

    def _read_line(self) -> bytes:
        end = self.buf.find(b"\r\n")
        while end < 0:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("connection closed inside a chunk header")
            self.buf += chunk
            end = self.buf.find(b"\r\n")
        line, self.buf = self.buf[:end], self.buf[end + 2 :]
        return line

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._read_exact(size))
            self._read_exact(2)

    def _read_to_close(self) -> bytes:
        parts = [self.buf]
        while chunk := self._recv():
            parts.append(chunk)
        self.close()
        return b"".join(parts)


def call(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    timeout: float = 60.0,
) -> Response:
    """One request on a new connection (for setup steps, not for load)."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers["Content-Type"] = "application/json"
    raw = build_request(method, path, f"{host}:{port}", all_headers, body, close=True)
    conn = Connection(host, port, timeout)
    try:
        return conn.request(raw)
    finally:
        conn.close()
