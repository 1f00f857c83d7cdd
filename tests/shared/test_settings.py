"""One Settings base, environment prefix QUOTEFLOW_, secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.settings import IngestSettings
from shared.settings import Settings


def test_defaults_mean_embedded_servers() -> None:
    settings = Settings()
    assert settings.embedded_kafka and settings.embedded_redis
    assert settings.producer_idempotence is False


def test_environment_configures_real_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEFLOW_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("QUOTEFLOW_REDIS_URL", "redis://:s3cret@redis:6379/0")
    settings = Settings()
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.producer_idempotence is True
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert settings.redis_url is not None and "s3cret" in settings.redis_url.get_secret_value()


def test_idempotence_can_be_forced_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEFLOW_KAFKA_BOOTSTRAP", "tansu:9092")
    monkeypatch.setenv("QUOTEFLOW_KAFKA_IDEMPOTENCE", "false")
    assert Settings().producer_idempotence is False


def test_secrets_can_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "quoteflow_kafka_sasl_password").write_text("from-file")
    monkeypatch.setenv("QUOTEFLOW_SECRETS_DIR", str(tmp_path))
    import importlib

    import shared.settings as module

    reloaded = importlib.reload(module)
    try:
        password = reloaded.Settings().kafka_sasl_password
        assert password is not None and password.get_secret_value() == "from-file"
    finally:
        monkeypatch.delenv("QUOTEFLOW_SECRETS_DIR")
        importlib.reload(module)


def test_service_settings_extend_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEFLOW_OWN_DOMAINS", '["daeyang-parts.com"]')
    settings = IngestSettings()
    assert settings.own_domains == ["daeyang-parts.com"]
    assert settings.service_name == "ingest"
