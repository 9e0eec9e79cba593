"""A small reader for subunit v2 streams (what ``stestr last --subunit`` prints).

Standard library only, so the harness runs under any Python 3. Packet layout (from the
subunit v2 specification): signature 0xB3, 16 bits of flags, the packet length as a
varint, then the optional fields in this order: timestamp, test id, tags, MIME type,
file content, route code; then a CRC32 of everything before it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

SIGNATURE = 0xB3

FLAG_TEST_ID = 0x0800
FLAG_ROUTE_CODE = 0x0400
FLAG_TIMESTAMP = 0x0200
FLAG_RUNNABLE = 0x0100
FLAG_TAGS = 0x0080
FLAG_FILE_CONTENT = 0x0040
FLAG_MIME_TYPE = 0x0020
FLAG_EOF = 0x0010

STATUSES: tuple[str | None, ...] = (
    None,
    "exists",
    "inprogress",
    "success",
    "uxsuccess",
    "skip",
    "fail",
    "xfail",
)
FINAL_STATUSES = frozenset({"success", "uxsuccess", "skip", "fail", "xfail"})


class SubunitError(Exception):
    """The stream is not valid subunit v2."""


@dataclass
class Packet:
    """One decoded packet."""

    test_id: str | None = None
    status: str | None = None
    timestamp: float | None = None
    tags: tuple[str, ...] = ()
    mime_type: str | None = None
    file_name: str | None = None
    file_bytes: bytes = b""
    route_code: str | None = None
    runnable: bool = True
    eof: bool = False


@dataclass
class TestRecord:
    """Everything the stream said about one test id."""

    test_id: str
    status: str | None = None
    start: float | None = None
    stop: float | None = None
    tags: set[str] = field(default_factory=set)
    attachments: dict[str, bytearray] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.stop is None:
            return None
        return max(0.0, self.stop - self.start)

    def text(self, name: str) -> str:
        data = self.attachments.get(name)
        return data.decode("utf-8", "replace") if data is not None else ""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a subunit varint at pos: (value, new position)."""
    if pos >= len(buf):
        raise SubunitError("truncated varint")
    first = buf[pos]
    size = (first >> 6) + 1
    if pos + size > len(buf):
        raise SubunitError("truncated varint")
    value = first & 0x3F
    for byte in buf[pos + 1 : pos + size]:
        value = (value << 8) | byte
    return value, pos + size


def _utf8(buf: bytes, pos: int) -> tuple[str, int]:
    length, pos = _varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise SubunitError("truncated string")
    return buf[pos:end].decode("utf-8", "replace"), end


def _decode_packet(packet: bytes) -> Packet:
    flags = struct.unpack(">H", packet[1:3])[0]
    if flags >> 12 != 0x2:
        raise SubunitError(f"unsupported subunit version in flags 0x{flags:04x}")
    body_end = len(packet) - 4
    stored_crc = struct.unpack(">I", packet[body_end:])[0]
    if zlib.crc32(packet[:body_end]) & 0xFFFFFFFF != stored_crc:
        raise SubunitError("bad packet checksum")
    _, pos = _varint(packet, 3)
    body = packet[:body_end]
    out = Packet(
        status=STATUSES[flags & 0x7],
        runnable=bool(flags & FLAG_RUNNABLE),
        eof=bool(flags & FLAG_EOF),
    )
    if flags & FLAG_TIMESTAMP:
        seconds = struct.unpack(">I", body[pos : pos + 4])[0]
        nanos, pos = _varint(body, pos + 4)
        out.timestamp = seconds + nanos / 1e9
    if flags & FLAG_TEST_ID:
        out.test_id, pos = _utf8(body, pos)
    if flags & FLAG_TAGS:
        count, pos = _varint(body, pos)
        tags = []
        for _ in range(count):
            tag, pos = _utf8(body, pos)
            tags.append(tag)
        out.tags = tuple(tags)
    if flags & FLAG_MIME_TYPE:
        out.mime_type, pos = _utf8(body, pos)
    if flags & FLAG_FILE_CONTENT:
        out.file_name, pos = _utf8(body, pos)
        length, pos = _varint(body, pos)
        if pos + length > len(body):
            raise SubunitError("file content runs past the packet")
        out.file_bytes = bytes(body[pos : pos + length])
        pos += length
    if flags & FLAG_ROUTE_CODE:
        out.route_code, pos = _utf8(body, pos)
    return out


def iter_packets(data: bytes) -> list[Packet]:
    """Decode every packet; bytes between packets (non-subunit output) are skipped."""
    packets: list[Packet] = []
    pos = 0
    while pos < len(data):
        if data[pos] != SIGNATURE:
            pos += 1
            continue
        try:
            length, _ = _varint(data, pos + 3)
        except SubunitError:
            break
        if length < 7 or pos + length > len(data):
            pos += 1
            continue
        try:
            packets.append(_decode_packet(data[pos : pos + length]))
        except SubunitError:
            pos += 1
            continue
        pos += length
    return packets


def parse(data: bytes) -> dict[str, TestRecord]:
    """Fold a stream into one record per test id (like testtools' StreamToDict)."""
    records: dict[str, TestRecord] = {}
    for packet in iter_packets(data):
        if packet.test_id is None:
            continue
        record = records.get(packet.test_id)
        if record is None:
            record = records[packet.test_id] = TestRecord(packet.test_id)
        record.tags.update(packet.tags)
        if packet.file_name is not None:
            record.attachments.setdefault(packet.file_name, bytearray()).extend(packet.file_bytes)
        if packet.status == "inprogress" and record.start is None:
            record.start = packet.timestamp
        elif packet.status in FINAL_STATUSES:
            record.status = packet.status
            record.stop = packet.timestamp
            if record.start is None:
                record.start = packet.timestamp
        elif packet.status == "exists" and record.status is None:
            record.status = "exists"
    return records
