"""Services meet only through topics and shared contracts: a forbidden import fails here.

Layers, from the bottom:

- ``shared/``: the contracts (events, topics, keys, the adapter registry on disk, settings base) and the
  machinery every service runs on; it imports no service.
- ``services/<name>/``: one service each (ingest, extract, quote, review, trainer). Its code imports
  ``shared`` and itself. The trainer, which evaluates the pipeline offline, may also import extract's
  public engine API (``services.extract.api``) and ingest's offline mail reading (``services.ingest.api``).
  A service's ``commands.py`` modules are its part of the CLI and may import ``services.cli_support``.
- ``services/*.py`` and ``services/commands/``: the CLI, the whole pipeline in one process and commands
  that span services; they may import anything.

Every import is checked, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "extract", "quote", "review", "trainer")
PUBLIC_APIS: dict[str, tuple[str, ...]] = {"trainer": ("services.extract.api", "services.ingest.api")}
CLI_SUPPORT = "services.cli_support"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from services.extract import handlers` imports services.extract.handlers
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*")
    return found


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def allowed(path: Path, module: str) -> bool:
    """Whether the file at ``path`` may import ``module``."""
    parts = path.relative_to(REPO).parts
    if not within(module, "services"):
        return True
    if parts[0] == "shared":
        return False
    service = parts[1]
    if service not in SERVICES:  # the CLI layer above the services
        return True
    if module == "services" or within(module, f"services.{service}"):
        return True
    if path.name == "commands.py" and within(module, CLI_SUPPORT):
        return True
    return any(within(module, api) for api in PUBLIC_APIS.get(service, ()))


def test_the_trainers_synthesizer_and_evaluation_do_not_import_each_other() -> None:
    """Both stand on the trainer's thread-case layout (cases.py) and its chat client (chat.py), not on each other."""
    crossing = {"synth": "services.trainer.evaluation", "evaluation": "services.trainer.synth"}
    found = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for part, forbidden in crossing.items()
        for path in sorted((REPO / "services" / "trainer" / part).rglob("*.py"))
        for line, module in imports_of(path)
        if within(module, forbidden)
    ]
    assert found == []


def python_files() -> list[Path]:
    return sorted([*(REPO / "shared").rglob("*.py"), *(REPO / "services").rglob("*.py")])


def test_no_module_imports_across_a_service_boundary() -> None:
    violations: dict[str, str] = {}
    for path in python_files():
        for line, module in imports_of(path):
            if not allowed(path, module):
                violations.setdefault(f"{path.relative_to(REPO)}:{line}", module)
    listed = [f"{where} imports {module}" for where, module in violations.items()]
    assert listed == [], "imports across service boundaries:\n" + "\n".join(listed)


@pytest.mark.parametrize(
    ("file", "module", "expected"),
    [
        ("shared/events.py", "services.extract.engine", False),
        ("services/extract/main.py", "services.trainer.registry", False),
        ("services/extract/main.py", "services.cli_support", False),
        ("services/quote/commands.py", "services.cli_support", True),
        ("services/trainer/evaluation/runner.py", "services.extract.api", True),
        ("services/trainer/evaluation/runner.py", "services.extract.rules", False),
        ("services/quote/handlers.py", "services.extract.api", False),
        ("services/review/web.py", "shared.pdf", True),
        ("services/pipeline.py", "services.extract.main", True),
        ("services/commands/extract.py", "services.ingest.mailfiles", True),
    ],
)
def test_the_rule_itself(file: str, module: str, expected: bool) -> None:
    assert allowed(REPO / file, module) is expected


def test_a_relative_import_is_resolved_against_its_package(tmp_path: Path) -> None:
    folder = REPO / "services" / "quote"
    probe = folder / "_boundary_probe.py"
    try:
        probe.write_text("from ..extract import engine\nfrom . import render\n", encoding="utf-8")
        modules = [module for _, module in imports_of(probe)]
    finally:
        probe.unlink()
    assert "services.extract.engine" in modules
    assert "services.quote.render" in modules
    assert not allowed(probe, "services.extract.engine")
