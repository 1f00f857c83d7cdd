"""Hard limits of one attachment read, and the cooperative checks readers make against them.

Every reader gets a :class:`Budget`: it asks :meth:`Budget.out_of_time` between pages, rows and
paragraphs and :meth:`Budget.take_cells` per table row, and stops with what it has (plus a warning)
when a limit is reached. Zip-based formats (XLSX, DOCX, HWPX) pass :func:`open_zip` first, which
refuses a zip bomb from the central directory before a byte is inflated. The sandbox
(:mod:`.sandbox`) backs these checks with a hard kill and a memory cap, for a reader stuck
inside one call (one pathological PDF page).
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field

from services.ingest.settings import IngestSettings

RATIO_CHECK_BYTES = 1024 * 1024
"""Members smaller than this are not ratio-checked: small XML parts compress 100:1 without harm."""
MAX_ZIP_MEMBERS = 10_000


class Unreadable(Exception):
    """The file cannot be read at all (encrypted, corrupt, over a limit); the message is the warning."""


@dataclass(frozen=True)
class AttachmentLimits:
    """What one attachment may cost (from :class:`IngestSettings`)."""

    max_bytes: int = 5 * 1024 * 1024
    max_pages: int = 50
    max_cells: int = 20_000
    max_chars: int = 50_000
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_ratio: int = 100
    timeout_s: float = 10.0
    memory_mb: int = 1024

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> AttachmentLimits:
        return cls(
            max_bytes=settings.max_attachment_bytes,
            max_pages=settings.max_attachment_pages,
            max_cells=settings.max_attachment_cells,
            max_chars=settings.max_attachment_chars,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_ratio=settings.max_decompression_ratio,
            timeout_s=settings.attachment_timeout_s,
            memory_mb=settings.attachment_memory_mb,
        )


@dataclass
class Budget:
    """The time and cells left for one attachment, and the warnings raised on the way."""

    limits: AttachmentLimits
    deadline: float = 0.0
    cells: int = 0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.limits.timeout_s

    def warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

    def out_of_time(self) -> bool:
        """True (with a warning, once) when the time per attachment is used up: stop reading."""
        if time.monotonic() < self.deadline:
            return False
        self.warn(f"stopped after {self.limits.timeout_s:g} s (QUOTEFLOW_ATTACHMENT_TIMEOUT_S): the rest is not read")
        return True

    def take_cells(self, count: int) -> bool:
        """Count a table row's cells; False (with a warning, once) when the cell limit would be passed."""
        if self.cells + count > self.limits.max_cells:
            self.warn(
                f"stopped at {self.limits.max_cells} table cells (QUOTEFLOW_MAX_ATTACHMENT_CELLS): the rest is not read"
            )
            return False
        self.cells += count
        return True


def open_zip(data: bytes, limits: AttachmentLimits) -> zipfile.ZipFile:
    """The archive, once its central directory shows no bomb: per-member ratio, total size, member count.

    The declared sizes are what zipfile inflates to at most (it stops at the declared size and
    checks the CRC), so refusing on them is enough; the sandbox's memory cap covers the rest.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise Unreadable(f"corrupt zip container: {exc}") from exc
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise Unreadable(f"zip container with {len(members)} members (more than {MAX_ZIP_MEMBERS}): not read")
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise Unreadable("encrypted zip container: not read")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_CHECK_BYTES and ratio > limits.max_ratio:
            raise Unreadable(
                f"zip bomb refused: {info.filename[:80]!r} inflates {ratio:.0f}:1 "
                f"(QUOTEFLOW_MAX_DECOMPRESSION_RATIO={limits.max_ratio})"
            )
        if total > limits.max_decompressed_bytes:
            raise Unreadable(
                f"zip container inflates to more than {limits.max_decompressed_bytes} bytes "
                "(QUOTEFLOW_MAX_DECOMPRESSED_BYTES): not read"
            )
    return archive
