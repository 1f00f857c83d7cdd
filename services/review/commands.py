"""`quoteflow review-user add|list|remove`: the review desk's users file (argon2 hashes, never a password)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from services.cli_support import UserError, console, safe_text
from services.review.users import User

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", help="Users file (default: QUOTEFLOW_USERS_FILE, else QUOTEFLOW_DATA_DIR/review-users.yaml)."
    ),
]
MIN_PASSWORD = 8


def _path(file: Path | None) -> Path:
    from services.review.settings import ReviewSettings

    return file or ReviewSettings().users_path()


def _read(path: Path) -> dict[str, User]:
    from services.review.users import UsersFileError, read_users

    try:
        return dict(read_users(path))
    except UsersFileError as exc:
        raise UserError(safe_text(str(exc))) from exc


def register_commands(app: typer.Typer) -> None:
    users_app = typer.Typer(help="Review desk users (sign-in for the embedded set-up).", no_args_is_help=True)
    app.add_typer(users_app, name="review-user")

    @users_app.command("add")
    def add(
        name: Annotated[str, typer.Argument(help="User name (a-z, 0-9, '.', '_', '@', '-').")],
        tenant: Annotated[list[str], typer.Option("--tenant", help="A tenant the user may review (repeat for more).")],
        file: FileOption = None,
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
        ] = False,
    ) -> None:
        """Add a user (or set an existing user's password and tenants); the password is stored as an argon2 hash."""
        from services.review.users import UsersFileError, check_user_name, hash_password, write_users
        from shared.tenants import InvalidTenantError, check_tenant

        try:
            check_user_name(name)
            tenants = tuple(dict.fromkeys(check_tenant(t) for t in tenant))
        except (UsersFileError, InvalidTenantError) as exc:
            raise UserError(str(exc)) from exc
        if not tenants:
            raise UserError("give at least one --tenant")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
        path = _path(file)
        users = _read(path)
        existed = name in users
        users[name] = User(name, tenants, hash_password(password))
        try:
            write_users(path, users)
        except OSError as exc:
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        console.print(Text(f"{'updated' if existed else 'added'} {name} ({', '.join(tenants)}) in {path}"))

    @users_app.command("list")
    def list_users(file: FileOption = None) -> None:
        """List the users and their tenants."""
        path = _path(file)
        table = Table(title=Text(f"review desk users in {path}"))
        table.add_column("user")
        table.add_column("tenants")
        table.add_column("sign-in")
        for user in _read(path).values():
            table.add_row(
                Text(user.name),
                Text(", ".join(user.tenants)),
                "password" if user.password_hash else "SSO only",
            )
        console.print(table)

    @users_app.command("remove")
    def remove(name: Annotated[str, typer.Argument(help="User name.")], file: FileOption = None) -> None:
        """Remove a user; their sessions end with their next request."""
        from services.review.users import write_users

        path = _path(file)
        users = _read(path)
        if name not in users:
            raise UserError(f"no user {safe_text(name)!r} in {path}")
        del users[name]
        try:
            write_users(path, users)
        except OSError as exc:
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        console.print(Text(f"removed {name} from {path}"))
