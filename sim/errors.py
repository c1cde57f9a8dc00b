"""The one error hierarchy of nomadsim (docs/architecture.md#conventions, convention 5).

Every error the package raises on purpose is a SimError. Validation errors carry the field they
name; API errors carry the HTTP status real Nomad would answer with; scenario errors name the key
path (and the file and line where known).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class SimError(Exception):
    """Base class of every error nomadsim raises on purpose."""


class ValidationError(SimError):
    """Invalid input, with the field it concerns and Nomad's message.

    `errors` holds every (field, message) pair found, so one rejection reports them all, as
    Nomad's multierror does.
    """

    def __init__(self, field: str, message: str, errors: list[tuple[str, str]] | None = None):
        self.field = field
        self.message = message
        self.errors = errors or [(field, message)]
        super().__init__(message)


class ApiError(SimError):
    """An answer of the Jobs API that is not a success: HTTP status and plain-text body."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


class ScenarioError(SimError):
    """An invalid scenario; the message names the file, the key path and, where known, the line."""

    def __init__(self, path: str, message: str, file: str | None = None, line: int | None = None):
        self.path = path
        self.file = file
        self.line = line
        where = f"{file}:" if file else ""
        where += f"{line}: " if line else (" " if file else "")
        super().__init__(f"{where}{path}: {message}")


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '': the hint of an unknown-name message."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
