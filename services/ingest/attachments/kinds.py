"""Which reader a file goes to: its first bytes decide, then its name, then its declared type.

Mail clients often send price lists as application/octet-stream, and a file named .xls may be
an XLSX: content first keeps both readable.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

from shared.events import AttachmentKind

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TNEF_MAGIC = b"\x78\x9f\x3e\x22"
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*", b"BM", b"RIFF")

_BY_SUFFIX: dict[str, AttachmentKind] = {
    ".pdf": "pdf",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".docx": "docx",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".hwp": "hwp",
    ".hwpx": "hwpx",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".tif": "image",
    ".tiff": "image",
    ".bmp": "image",
}
_BY_TYPE: dict[str, AttachmentKind] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/plain": "text",
    "application/x-hwp": "hwp",
    "application/haansofthwp": "hwp",
    "application/vnd.hancom.hwp": "hwp",
    "application/hwp+zip": "hwpx",
    "application/vnd.hancom.hwpx": "hwpx",
    "application/ms-tnef": "tnef",
    "application/vnd.ms-tnef": "tnef",
}


def _zip_kind(data: bytes) -> AttachmentKind:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return "other"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "word/document.xml" in names:
        return "docx"
    if "Contents/section0.xml" in names or any(n.lower().startswith("contents/section") for n in names):
        return "hwpx"
    return "other"


def _ole_kind(data: bytes) -> AttachmentKind:
    import olefile

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("FileHeader") and (ole.exists("BodyText") or ole.exists("PrvText")):
                return "hwp"
            if ole.exists("Workbook") or ole.exists("Book"):
                return "xls"
            if ole.exists("EncryptedPackage"):
                return "xlsx"  # an encrypted OOXML file: the xlsx reader reports it as encrypted
    except Exception:
        return "other"
    return "other"


def detect_kind(filename: str | None, content_type: str, data: bytes) -> AttachmentKind:
    """The reader for a file (``other`` when none fits)."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        found = _zip_kind(data)
        if found != "other":
            return found
    if data.startswith(OLE_MAGIC):
        found = _ole_kind(data)
        if found != "other":
            return found
    if data.startswith(TNEF_MAGIC):
        return "tnef"
    if data.startswith(_IMAGE_MAGIC) or content_type.startswith("image/"):
        return "image"
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if filename and PurePath(filename).name.lower() == "winmail.dat":
        return "tnef"
    # A name or type whose bytes did not match goes to that reader anyway: it reports the file as corrupt.
    return _BY_SUFFIX.get(suffix) or _BY_TYPE.get(content_type.lower()) or "other"
