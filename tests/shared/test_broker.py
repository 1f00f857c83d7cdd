"""Broker factory policy: acks=all, idempotence by broker kind, SASL/TLS from settings."""

from __future__ import annotations

import ssl

import pytest
from faststream import AckPolicy
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512
from pydantic import SecretStr

from shared.broker import broker_security, build_broker, kafka_client_kwargs, subscriber_options
from shared.settings import Settings
from shared.telemetry import build_telemetry


def test_no_security_by_default() -> None:
    assert broker_security(Settings(kafka_bootstrap="k:9092")) is None


def test_sasl_scram_over_tls() -> None:
    settings = Settings(
        kafka_bootstrap="k:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="quoteflow",
        kafka_sasl_password=SecretStr("pw"),
    )
    security = broker_security(settings)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl and isinstance(security.ssl_context, ssl.SSLContext)
    admin = kafka_client_kwargs(settings)
    assert admin["sasl_mechanism"] == "SCRAM-SHA-512" and admin["sasl_plain_password"] == "pw"


def test_sasl_plain_without_tls_and_tls_only() -> None:
    plain = Settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password=SecretStr("p")
    )
    security = broker_security(plain)
    assert isinstance(security, SASLPlaintext) and not security.use_ssl
    tls = broker_security(Settings(kafka_security_protocol="SSL"))
    assert type(tls) is BaseSecurity and tls.use_ssl


def test_sasl_without_credentials_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SASL needs"):
        broker_security(Settings(kafka_security_protocol="SASL_SSL"))


def test_consumers_are_at_least_once_from_the_beginning() -> None:
    options = subscriber_options(Settings(), group_id="g")
    assert options["auto_offset_reset"] == "earliest"
    assert options["ack_policy"] is AckPolicy.MANUAL
    assert options["group_id"] == "g"


@pytest.mark.parametrize(("idempotence", "expected"), [(None, True), (False, False)])
def test_producer_policy(idempotence: bool | None, expected: bool) -> None:
    settings = Settings(kafka_bootstrap="kafka:9092", kafka_idempotence=idempotence)
    broker = build_broker(settings, build_telemetry(settings))
    connection = broker._connection_kwargs
    assert connection["acks"] == "all"
    assert connection["enable_idempotence"] is expected


async def test_batch_parser_reads_records_with_bad_headers_and_hands_on_the_originals() -> None:
    from aiokafka.structs import ConsumerRecord
    from faststream.kafka.message import KafkaMessage
    from faststream.kafka.parser import AioKafkaBatchParser

    from shared.broker import tolerant_batch_parser

    def record(offset: int, headers: list[tuple[str, bytes | None]]) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, headers)  # type: ignore[arg-type]

    records = (record(0, [("x-note", b"\xfe\xff")]), record(1, [("x-null", None)]), record(2, [("ok", b"1")]))
    parser = AioKafkaBatchParser(msg_class=KafkaMessage, regex=None)
    with pytest.raises(UnicodeDecodeError):
        await parser.parse_batch(records)  # what faststream alone does with such a batch
    message = await tolerant_batch_parser(records, parser.parse_batch)
    assert message.raw_message is records
    assert message.batch_headers == [{"x-note": "\ufffd\ufffd"}, {"x-null": ""}, {"ok": "1"}]  # type: ignore[attr-defined]
