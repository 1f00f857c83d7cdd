"""Ingest's public offline API: reading mail files into normalized threads exactly as the service would, for
the trainer's datasets and evaluations (``quoteflow synth``, ``quoteflow eval``).

Everything else in ``services/ingest`` is the service's own; tests/test_boundaries.py enforces it.
"""

from __future__ import annotations

from services.ingest.mailfiles import (
    MailFile,
    MailFileError,
    Rejected,
    assemble_offline,
    assemble_offline_detailed,
    read_limited,
    read_mail_files,
)
from services.ingest.settings import IngestSettings

__all__ = [
    "IngestSettings",
    "MailFile",
    "MailFileError",
    "Rejected",
    "assemble_offline",
    "assemble_offline_detailed",
    "read_limited",
    "read_mail_files",
]
