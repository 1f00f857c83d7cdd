"""Outlook .msg files built at test time (MAPI properties in a compound file, [MS-OXMSG]).

extract-msg can only read, so the fixture is written here from the format: named property
streams (``__substg1.0_<id><type>``), fixed-size properties in ``__properties_version1.0``,
one storage per recipient and attachment.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from tests.support.cfb import Tree, write_cfb

PT_LONG, PT_TIME, PT_UNICODE, PT_BINARY = 0x0003, 0x0040, 0x001F, 0x0102


def _string(prop: int, value: str) -> tuple[str, bytes]:
    return f"__substg1.0_{prop:04X}{PT_UNICODE:04X}", value.encode("utf-16-le")


def _properties(header: bytes, fixed: list[tuple[int, int, bytes]], strings: dict[int, str]) -> bytes:
    body = b""
    for prop, kind, value in fixed:
        body += struct.pack("<II", (prop << 16) | kind, 0x6) + value.ljust(8, b"\0")
    for prop, value in strings.items():
        size = len(value.encode("utf-16-le")) + 2
        body += struct.pack("<IIII", (prop << 16) | PT_UNICODE, 0x6, size, 0)
    return header + body


def _filetime(when: datetime) -> bytes:
    ticks = int((when - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
    return struct.pack("<Q", ticks)


def build_msg(
    *,
    sender_name: str,
    sender_email: str,
    to: list[tuple[str, str]],
    subject: str,
    body: str,
    date: datetime,
    message_id: str,
    in_reply_to: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    transport_headers: str | None = None,
) -> bytes:
    """A received-or-sent Outlook item; ``attachments`` are (filename, mime type, bytes)."""
    strings = {
        0x001A: "IPM.Note",
        0x0037: subject,
        0x1000: body,
        0x0C1A: sender_name,
        0x0C1F: sender_email,
        0x0C1E: "SMTP",
        0x5D01: sender_email,
        0x0042: sender_name,
        0x0065: sender_email,
        0x0E04: "; ".join(name for name, _ in to),
        0x1035: message_id,
    }
    if in_reply_to:
        strings[0x1042] = in_reply_to
    if transport_headers:
        strings[0x007D] = transport_headers
    tree: Tree = dict(_string(p, v) for p, v in strings.items())
    fixed = [
        (0x0039, PT_TIME, _filetime(date)),
        (0x0E06, PT_TIME, _filetime(date)),
        (0x0E07, PT_LONG, struct.pack("<I", 1)),
    ]
    header = struct.pack("<8xIIII8x", len(to), len(attachments), len(to), len(attachments))
    tree["__properties_version1.0"] = _properties(header, fixed, strings)
    tree["__nameid_version1.0"] = {
        "__substg1.0_00020102": b"",
        "__substg1.0_00030102": b"",
        "__substg1.0_00040102": b"",
    }
    for index, (name, email) in enumerate(to):
        recipient_strings = {0x3001: name, 0x3003: email, 0x39FE: email, 0x3002: "SMTP"}
        recipient: Tree = dict(_string(p, v) for p, v in recipient_strings.items())
        recipient["__properties_version1.0"] = _properties(
            b"\0" * 8,
            [(0x0C15, PT_LONG, struct.pack("<I", 1)), (0x3000, PT_LONG, struct.pack("<I", index))],
            recipient_strings,
        )
        tree[f"__recip_version1.0_#{index:08X}"] = recipient
    for index, (filename, mimetype, data) in enumerate(attachments):
        attachment_strings = {
            0x3707: filename,
            0x3704: filename[:8],
            0x370E: mimetype,
            0x3703: "." + filename.rpartition(".")[2],
        }
        attachment: Tree = dict(_string(p, v) for p, v in attachment_strings.items())
        attachment[f"__substg1.0_3701{PT_BINARY:04X}"] = data
        attachment["__properties_version1.0"] = _properties(
            b"\0" * 8,
            [(0x3705, PT_LONG, struct.pack("<I", 1)), (0x0E20, PT_LONG, struct.pack("<I", len(data)))],
            attachment_strings,
        )
        tree[f"__attach_version1.0_#{index:08X}"] = attachment
    return write_cfb(tree)
