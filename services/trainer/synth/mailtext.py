"""The text of a synthetic message, plain and HTML: blocks, closing, signature, forward and quoted history.

Pure functions of a draft and its :class:`~services.trainer.synth.model.Mail`. The renderer builds the
bodies with them, and the builder needs them too: whether a Korean message can go out in EUC-KR depends
on its full plain text, and that decision draws from the thread's random stream before the next message.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from services.trainer.synth.formatting import MONTHS_EN, WEEKDAYS_KO
from services.trainer.synth.model import Draft, Forward, Mail, Person


@dataclass(frozen=True)
class Quoted:
    """The previous message as the next one quotes it."""

    plain: str
    sent_at: datetime
    sender: Person
    subject: str


def html_lines(text: str) -> str:
    """Escaped text with its line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def plain_table(rows: list[list[str]]) -> str:
    """A table in plain text: padded columns separated by bars."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(" | ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows)


def html_table(rows: list[list[str]]) -> str:
    """A table in HTML, the first row as its header."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f'<table border="1" cellpadding="4" cellspacing="0"><tr>{head}</tr>{body}</table>'


def written_text(draft: Draft, mail: Mail) -> str:
    """What the writer wrote in this message (no forward or quote): the truth checks company names against it."""
    text_blocks = [b.text if b.text is not None else plain_table(b.table or [[""]]) for b in draft.blocks]
    return "\n\n".join(text_blocks) + f"\n\n{mail.closing}\n{mail.signature_delimiter}{mail.signature}"


def forward_header(writer: Person, reader: Person, forward: Forward, base_subject: str) -> str:
    """The 'Forwarded message' block a mail client puts above a forwarded message."""
    return (
        f"---------- Forwarded message ---------\nFrom: {writer.name} <{writer.email}>\n"
        f"Date: {format_datetime(forward.original_sent_at)}\nSubject: {base_subject}\n"
        f"To: {reader.name} <{reader.email}>"
    )


def quote_header(client: str, sender: Person, when: datetime, to: Person, subject: str) -> tuple[str, bool]:
    """Header line(s) introducing quoted history, and whether the quoted lines get '> ' prefixes."""
    local = when.astimezone(sender.tz)
    hour12 = local.hour % 12 or 12
    ampm = "AM" if local.hour < 12 else "PM"
    if client == "gmail":
        stamp = f"{local:%a}, {MONTHS_EN[local.month - 1][:3]} {local.day}, {local.year} at {hour12}:{local:%M} {ampm}"
        return f"On {stamp} {sender.name} <{sender.email}> wrote:", True
    if client == "gmail_ko":
        half = "오전" if local.hour < 12 else "오후"
        stamp = (
            f"{local.year}년 {local.month}월 {local.day}일 ({WEEKDAYS_KO[local.weekday()]}) {half} {hour12}:{local:%M}"
        )
        return f"{stamp}, {sender.name} <{sender.email}>님이 작성:", True
    if client == "outlook_ko":
        return (
            f"-----원본 메일-----\n보낸 사람: {sender.name} <{sender.email}>\n받는 사람: {to.name} <{to.email}>\n"
            f"날짜: {local:%Y-%m-%d} ({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M}\n제목: {subject}"
        ), False
    if client == "naver":
        return (
            f'-----Original Message-----\nFrom: "{sender.name}"<{sender.email}>\nTo: "{to.name}"<{to.email}>;\n'
            f"Sent: {local:%Y-%m-%d} ({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M:%S}\nSubject: {subject}"
        ), False
    sent = f"{local:%A}, {MONTHS_EN[local.month - 1]} {local.day}, {local.year} {hour12}:{local:%M} {ampm}"
    rule = "-----Original Message-----" if client == "outlook" else "________________________________"
    return (
        f"{rule}\nFrom: {sender.name} <{sender.email}>\nSent: {sent}\nTo: {to.name} <{to.email}>\nSubject: {subject}",
        False,
    )


def _history_header(writer: Person, reader: Person, previous: Quoted) -> tuple[str, bool]:
    """The writer's client's header over the previous message (sent by either side, to the other one)."""
    previous_recipient = writer if previous.sender is not writer else reader
    return quote_header(writer.client, previous.sender, previous.sent_at, previous_recipient, previous.subject)


def _quotes_history(writer: Person) -> bool:
    """Replies quote the previous message unless the writer's client is one that does not ('none')."""
    return writer.client != "none"


def plain_body(
    draft: Draft, mail: Mail, writer: Person, reader: Person, base_subject: str, previous: Quoted | None
) -> str:
    """The text/plain body: forward note and header if forwarded, the new text, then the quoted history."""
    new_text = written_text(draft, mail)
    plain = new_text
    if mail.forward is not None:
        header = forward_header(writer, reader, mail.forward, base_subject)
        plain = f"{mail.forward.intro}\n\n{header}\n\n{new_text}"
    if previous is not None and _quotes_history(writer):
        header, prefixed = _history_header(writer, reader, previous)
        quoted = (
            "\n".join(("> " + line) if line else ">" for line in previous.plain.splitlines())
            if prefixed
            else previous.plain
        )
        plain = f"{plain}\n\n{header}\n{quoted}"
    return plain


def html_body(
    draft: Draft, mail: Mail, writer: Person, reader: Person, base_subject: str, previous: Quoted | None
) -> str:
    """The HTML body (inside <body>): the same parts as the plain body, the history in a blockquote."""
    body = "".join(
        f"<p>{html_lines(b.text)}</p>" if b.text is not None else html_table(b.table or [[""]]) for b in draft.blocks
    ) + (f"<p>{html.escape(mail.closing)}<br>{html_lines(mail.signature)}</p>")
    if mail.forward is not None:
        header = forward_header(writer, reader, mail.forward, base_subject)
        body = f"<p>{html.escape(mail.forward.intro)}</p><div>{html_lines(header)}</div>{body}"
    if previous is not None and _quotes_history(writer):
        header, _ = _history_header(writer, reader, previous)
        body += f"<div>{html_lines(header)}</div><blockquote>{html_lines(previous.plain)}</blockquote>"
    return body


def multipart_count(draft: Draft) -> int:
    """How many multipart containers the message has: one for an HTML alternative, one for an attachment."""
    return int(draft.html_alternative and not draft.html_only) + int(draft.attach_quote)
