"""A training run in a child process: ``python -m services.trainer.training.worker REQUEST RESULT``.

The trainer service runs scheduled trainings here, apart from its consumer: the event loop stays
responsive, an out-of-memory kill takes only the child, and stopping the service terminates the run
(the pending marker then gets it retried later). Request and result are JSON files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def report_to_json(report: Any) -> dict[str, Any]:
    """A RunReport as JSON (the event, the loss curve path, the losses)."""
    return {
        "event": report.event.model_dump(mode="json"),
        "loss_curve": str(report.loss_curve) if report.loss_curve else None,
        "losses": report.losses,
    }


def main(argv: list[str]) -> int:
    from services.trainer.scheduler import train_blocking
    from services.trainer.settings import TrainerSettings
    from services.trainer.training.recipe import Recipe

    if len(argv) != 2:
        print("usage: python -m services.trainer.training.worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    settings = TrainerSettings(**request["settings"])
    recipe = Recipe.model_validate(request["recipe"])
    report = train_blocking(settings, recipe)
    Path(argv[1]).write_text(json.dumps(report_to_json(report), ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
