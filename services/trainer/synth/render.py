"""The renderer: a built thread's drafts as RFC 5322 messages (bytes), without randomness or side effects.

Every choice about the mail (subject, times, charset, ids, boundaries) was made by
:meth:`~services.trainer.synth.builder.ThreadBuilder.finish`, so rendering the same thread twice gives the
same bytes and never changes its truth: the expected.json of a thread does not depend on whether, or how
often, its mail was rendered.
"""

from __future__ import annotations

import csv
import io
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from services.trainer.synth.mailtext import Quoted, html_body, plain_body
from services.trainer.synth.model import BuiltThread, Draft, Mail


def _quotation_csv(thread: BuiltThread) -> bytes:
    """The quotation attached to the final offer: the final items and prices."""
    buffer = io.StringIO()
    table = csv.writer(buffer)
    table.writerow(["product", "quantity", "unit", "unit_price", "currency"])
    for item in thread.terms.items:
        table.writerow([item.product, item.quantity, item.unit, item.price, thread.terms.currency])
    return buffer.getvalue().encode("utf-8")


def _set_boundaries(msg: EmailMessage, thread: BuiltThread, number: int, mail: Mail) -> None:
    """Fixed multipart boundaries (the same seed gives the same bytes), one decided token per container."""
    tokens = iter(mail.boundary_tokens)
    for part_number, part in enumerate(msg.walk()):
        if part.is_multipart():
            token = next(tokens, None)
            if token is None:
                raise ValueError(f"{thread.case_id} message {number}: more multipart parts than boundary tokens")
            part.set_boundary(f"=_quoteflow_{thread.index}_{number}_{part_number}_{token:08x}")
    if next(tokens, None) is not None:
        raise ValueError(f"{thread.case_id} message {number}: fewer multipart parts than boundary tokens")


def render_message(thread: BuiltThread, number: int, previous: Quoted | None) -> tuple[bytes, Quoted]:
    """Message ``number`` of the thread, and how the next message quotes it."""
    draft: Draft = thread.drafts[number]
    mail = thread.mails[number]
    writer, reader = thread.person(draft.side), thread.other(draft.side)
    plain = plain_body(draft, mail, writer, reader, thread.base_subject, previous)
    msg = EmailMessage()
    msg["From"] = formataddr((writer.name, writer.email))
    msg["To"] = formataddr((reader.name, reader.email))
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(mail.sent_at.astimezone(writer.tz))
    msg["Message-ID"] = mail.message_id
    if number > 0:
        earlier_ids = [m.message_id for m in thread.mails[:number]]
        msg["In-Reply-To"] = earlier_ids[-1]
        msg["References"] = " ".join(earlier_ids[-10:])
    html_document = f"<html><body>{html_body(draft, mail, writer, reader, thread.base_subject, previous)}</body></html>"
    if draft.html_only:
        msg.set_content(html_document, subtype="html", charset=mail.charset, cte=mail.transfer_encoding)
    else:
        msg.set_content(plain, charset=mail.charset, cte=mail.transfer_encoding)
        if draft.html_alternative:
            msg.add_alternative(html_document, subtype="html", charset="utf-8")
    if draft.attach_quote:
        msg.add_attachment(
            _quotation_csv(thread),
            maintype="text",
            subtype="csv",
            filename=f"quotation-Q-{mail.sent_at.year}-{thread.index:05d}.csv",
        )
    _set_boundaries(msg, thread, number, mail)
    return bytes(msg), Quoted(plain=plain, sent_at=mail.sent_at, sender=writer, subject=mail.subject)


def render_thread(thread: BuiltThread) -> list[bytes]:
    """RFC 5322 messages for the thread's drafts, in order, each quoting the one before as its client does."""
    messages: list[bytes] = []
    previous: Quoted | None = None
    for number in range(len(thread.drafts)):
        raw, previous = render_message(thread, number, previous)
        messages.append(raw)
    return messages
