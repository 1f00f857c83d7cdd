"""Desk users: a YAML file of names, argon2 password hashes and tenants (the embedded set-up).

```yaml
users:
  minji:
    password: $argon2id$v=19$m=65536,t=3,p=4$...
    tenants: [acme, default]
```

``quoteflow review-user add`` writes it (never a plain password). The desk re-reads it when it
changes, so an added or removed user counts at once, also for sessions already signed in.
With SSO, a user name without ``password`` only names that user's tenants.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shared.tenants import InvalidTenantError, check_tenant

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
USER_RULE = "1-64 characters of a-z, 0-9, '.', '_', '@' and '-', starting with a letter or digit"
MAX_USERS_FILE_BYTES = 4 * 1024 * 1024

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class UsersFileError(ValueError):
    """The users file cannot be read or holds an invalid entry; the message says which."""


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise UsersFileError(f"invalid user name {name[:40]!r}: use {USER_RULE}")
    return name


@dataclass(frozen=True)
class User:
    name: str
    tenants: tuple[str, ...]
    password_hash: str | None = None


def hash_password(password: str) -> str:
    """An argon2id hash (argon2-cffi's defaults: RFC 9106 low-memory profile)."""
    return _HASHER.hash(password)


def _parse(data: Any, source: str) -> dict[str, User]:
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
        raise UsersFileError(f"{source}: expected a mapping 'users: {{name: {{password, tenants}}}}'")
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        check_user_name(str(name))
        if not isinstance(entry, dict):
            raise UsersFileError(f"{source}: user {name!r} is not a mapping")
        tenants = entry.get("tenants") or []
        if not isinstance(tenants, list) or not tenants:
            raise UsersFileError(f"{source}: user {name!r} needs a non-empty list of tenants")
        try:
            checked = tuple(check_tenant(str(t)) for t in tenants)
        except InvalidTenantError as exc:
            raise UsersFileError(f"{source}: user {name!r}: {exc}") from exc
        password = entry.get("password")
        if password is not None and not (isinstance(password, str) and password.startswith("$argon2")):
            raise UsersFileError(
                f"{source}: user {name!r}: password must be an argon2 hash (quoteflow review-user add)"
            )
        users[str(name)] = User(str(name), checked, password)
    return users


def read_users(path: Path) -> dict[str, User]:
    """The users of a file (none when it does not exist)."""
    try:
        if path.stat().st_size > MAX_USERS_FILE_BYTES:
            raise UsersFileError(f"{path}: larger than {MAX_USERS_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"{path}: cannot read ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    return _parse(data, str(path))


def write_users(path: Path, users: dict[str, User]) -> None:
    """Write the file atomically (a temporary file renamed over it), readable by its owner only."""
    data = {
        "users": {
            user.name: {
                "tenants": list(user.tenants),
                **({"password": user.password_hash} if user.password_hash else {}),
            }
            for user in sorted(users.values(), key=lambda u: u.name)
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".review-users-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump(data, out, allow_unicode=True, sort_keys=False)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class UserDirectory:
    """The users file, re-read when its modification time or size changes."""

    path: Path
    _users: dict[str, User] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None

    def users(self) -> dict[str, User]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            self._users, self._stamp = {}, None
            return self._users
        if stamp != self._stamp:
            self._users = read_users(self.path)
            self._stamp = stamp
        return self._users

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password matches its hash; None otherwise (the same work either way)."""
        user = self.get(name) if USER_NAME.fullmatch(name) else None
        stored = user.password_hash if user is not None else None
        try:
            _HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user if stored else None
