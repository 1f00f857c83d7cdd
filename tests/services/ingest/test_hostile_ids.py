"""Message-IDs a hostile or odd sender writes must not make two mails one (a silent drop as duplicate)."""

from __future__ import annotations

from services.ingest.mime import clean_id, message_ids
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings

PREFIX = "a" * 550


def _mail(message_id: str, references: str = "") -> bytes:
    refs = f"References: {references}\r\n" if references else ""
    return (
        f"From: kim@buyer.co.kr\r\nTo: sales@supplier.com\r\nSubject: RFQ\r\nMessage-ID: {message_id}\r\n{refs}\r\n"
        "Please quote 10 valves.\r\n"
    ).encode()


def test_long_message_ids_differing_after_500_characters_stay_distinct() -> None:
    one = clean_id(f"<{PREFIX}1@x.com>")
    two = clean_id(f"<{PREFIX}2@x.com>")
    assert one is not None and two is not None
    assert one != two
    assert len(one) <= 500 and len(two) <= 500


def test_long_message_id_is_the_same_in_message_id_and_references() -> None:
    long_id = f"<{PREFIX}1@x.com>"
    assert message_ids(f"<root@x.com> {long_id}") == ["root@x.com", clean_id(long_id)]


def test_two_mails_with_long_ids_sharing_500_characters_get_two_message_ids() -> None:
    settings = IngestSettings()
    one = normalize_raw(_mail(f"<{PREFIX}1@x.com>"), settings)
    two = normalize_raw(_mail(f"<{PREFIX}2@x.com>"), settings)
    assert one.message.message_id != two.message.message_id


def test_short_message_ids_are_kept_as_they_are() -> None:
    assert clean_id("<a:b@c.com>") == "a:b@c.com"
    assert clean_id("<" + "b" * 498 + ">") == "b" * 498
