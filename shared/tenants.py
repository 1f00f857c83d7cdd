"""The one tenant-id rule of QuoteFlow, and safe names for files built from ids.

Tenant ids end up in Redis keys (``thread:{tenant}:{id}``), folder names
(``<pdf_dir>/<tenant>/``, the trainer's per-tenant JSONL) and Kafka headers. A free
string there lets ``..`` escape a folder, ``a:b`` read another tenant's keys, and
lossy sanitising merge two tenants into one folder. So every tenant is validated
once, at every door (event models, settings, the tenant header, CLI options),
against a rule under which keys and paths built from it are injective as they are:

- lowercase ASCII letters, digits, ``-`` and ``_`` only: no ``:`` (the key
  separator), no ``/`` or ``\\``, no ``.`` (so no ``..``), and no upper case,
  which would let ``Acme`` and ``acme`` share a folder on case-insensitive
  filesystems (macOS, Windows);
- 1 to 63 characters, starting with a letter or a digit (no leading ``-``, which
  tools read as an option, and no hidden files);
- not a reserved device name of Windows (``con``, ``nul``, ``com1``, …).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TENANT_RULE = "1-63 characters of lowercase a-z, 0-9, '-' and '_', starting with a letter or digit"
DEFAULT_TENANT = "default"

_TENANT_RE = re.compile(TENANT_PATTERN)
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)


class InvalidTenantError(ValueError):
    """A tenant id that breaks the rule; the message says which and why."""


def check_tenant(value: object) -> str:
    """``value`` if it is a valid tenant id, else InvalidTenantError with the reason."""
    if not isinstance(value, str):
        raise InvalidTenantError(f"invalid tenant id {value!r}: not a string")
    if not value:
        raise InvalidTenantError("invalid tenant id '': empty")
    if len(value) > 63:
        raise InvalidTenantError(f"invalid tenant id {value[:20]!r}… ({len(value)} characters): at most 63")
    if not _TENANT_RE.fullmatch(value):
        raise InvalidTenantError(f"invalid tenant id {value!r}: use {TENANT_RULE}")
    if value in _WINDOWS_DEVICES:
        raise InvalidTenantError(f"invalid tenant id {value!r}: a reserved device name on Windows")
    return value


TenantId = Annotated[
    str,
    AfterValidator(check_tenant),
    WithJsonSchema({"type": "string", "pattern": TENANT_PATTERN, "minLength": 1, "maxLength": 63}),
]
"""A validated tenant id, for pydantic models and settings."""


_PLAIN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class UnsafeNameError(ValueError):
    """An id that cannot be a file or folder name as it is."""


def check_plain_name(value: str, what: str = "name") -> str:
    """``value`` if it is a plain file name (no separators, no ``..``, no leading dot or dash), else UnsafeNameError.

    Ids the system makes (thread ids ``t-<hex>``, quote numbers ``Q-2026-000123``) pass
    unchanged; anything else is refused rather than sanitised, because sanitising is
    lossy and lets two ids share one file.
    """
    if not _PLAIN_NAME_RE.fullmatch(value) or ".." in value:
        raise UnsafeNameError(f"{what} {value!r} is not a plain file name (letters, digits, '.', '-', '_')")
    return value


def contained(root: Path, path: Path) -> Path:
    """``path`` resolved, if it stays inside ``root`` (also resolved); ValueError otherwise."""
    base = root.resolve()
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UnsafeNameError(f"{path} is outside {root}")
    return resolved


_UNSAFE_CHARS_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(value: str, fallback: str = "item") -> str:
    """A plain file name for an id that may not be one (``../x``, ``a/b``, ``..``): kept as is when already plain.

    Lossy by nature, so callers that write several files pass the results through
    :func:`unique_names`, which keeps them apart.
    """
    if _PLAIN_NAME_RE.fullmatch(value) and ".." not in value:
        return value
    cleaned = _UNSAFE_CHARS_RE.sub("_", value).replace("..", "_").lstrip("._-")[:120]
    return cleaned or fallback


def unique_names(names: list[str]) -> list[str]:
    """The names in order, later duplicates given ``-2``, ``-3``, … (deterministic; compared case-insensitively,
    since two names differing only in case are one file on macOS and Windows).

    A suffix never takes a name that another entry carries as it is.
    """
    taken = {name.casefold() for name in names}
    given: set[str] = set()
    result = []
    for name in names:
        candidate, number = name, 1
        while candidate.casefold() in given or (candidate != name and candidate.casefold() in taken):
            number += 1
            candidate = f"{name}-{number}"
        given.add(candidate.casefold())
        result.append(candidate)
    return result
