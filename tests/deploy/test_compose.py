"""docker-compose.yml and the Kubernetes manifests carry what production needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.pipeline import ALL_SERVICE_NAMES as SERVICE_NAMES
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_infrastructure_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services["redis"]["image"].startswith("redis:")
    assert "--appendonly" in services["redis"]["command"]
    assert services["tgi"]["image"].startswith("ghcr.io/huggingface/text-generation-inference:")
    assert "gemma-2-2b-it" in " ".join(services["tgi"]["command"])
    assert "LORA_ADAPTERS" in services["tgi"]["environment"]
    assert any(v.endswith(":/adapters:ro") for v in services["tgi"]["volumes"])
    assert services["vllm"]["profiles"] == ["vllm"]
    assert "--enable-lora" in services["vllm"]["command"]
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector")
    assert services["jaeger"]["image"].startswith("jaegertracing/")


def test_quoteflow_services_from_one_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICE_NAMES:
        service = services[name]
        assert service["build"]["context"] == "."
        assert service["command"] == ["serve", name]
        env = service["environment"]
        assert env["QUOTEFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["QUOTEFLOW_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["QUOTEFLOW_OTLP_ENDPOINT"].startswith("http://otel-collector:")
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["extract"]["environment"]["QUOTEFLOW_LLM_URL"].endswith("tgi:80}")
    assert "train" in services["trainer"]["build"]["args"]["EXTRAS"]
    assert services["review"]["environment"]["QUOTEFLOW_HTTP_HOST"] == "0.0.0.0"
    assert "127.0.0.1:8090:8090" in services["review"]["ports"]


def test_every_infrastructure_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name in ("kafka", "redis", "tgi"):
        assert "healthcheck" in compose["services"][name], name


def test_required_secrets_use_strict_interpolation() -> None:
    text = COMPOSE.read_text()
    for secret in ("REDIS_PASSWORD", "HF_TOKEN", "REVIEW_SESSION_SECRET"):
        assert re.search(r"\$\{" + secret + r":\?", text), secret
        assert not re.search(r"\$\{" + secret + r":-", text), f"{secret} must not have a default"


def test_settings_in_compose_exist_in_the_code(compose: dict[str, Any]) -> None:
    from services.extract.settings import ExtractSettings
    from services.ingest.settings import IngestSettings
    from services.quote.settings import QuoteSettings
    from services.review.settings import ReviewSettings
    from services.trainer.settings import TrainerSettings

    known = {
        f"QUOTEFLOW_{name.upper()}"
        for cls in (IngestSettings, ExtractSettings, QuoteSettings, TrainerSettings, ReviewSettings)
        for name in cls.model_fields
    }
    for name in SERVICE_NAMES:
        unknown = set(compose["services"][name]["environment"]) - known
        assert not unknown, f"{name}: {unknown}"


def test_kubernetes_has_one_deployment_per_service() -> None:
    manifests: list[dict[str, Any]] = []
    for path in sorted((REPO / "deploy" / "k8s").glob("*.yaml")):
        manifests.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    deployments = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Deployment"}
    assert set(deployments) == set(SERVICE_NAMES)
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    kustomization = yaml.safe_load((REPO / "deploy" / "k8s" / "kustomization.yaml").read_text())
    assert {f"{n}.yaml" for n in SERVICE_NAMES} <= set(kustomization["resources"])


def test_collector_scrapes_every_service() -> None:
    config = yaml.safe_load((REPO / "deploy" / "otel-collector.yaml").read_text())
    targets = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]["static_configs"][0]["targets"]
    assert {t.split(":")[0] for t in targets} == set(SERVICE_NAMES)
    assert "otlp" in config["service"]["pipelines"]["traces"]["receivers"]


def test_dockerfile_installs_the_project_with_locked_versions() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "-c requirements/constraints.txt" in text
    assert 'ENTRYPOINT ["quoteflow"]' in text
    assert Path(REPO / ".dockerignore").exists()
