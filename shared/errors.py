"""Errors every layer may raise and the CLI knows how to show."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (a bad option, a missing file, an adapter that does not load): the CLI prints
    it as one line with exit code 1, never a traceback. Services raise it where they check what they were asked."""
