"""User-facing errors: one line that names the file and the problem, no traceback."""
from __future__ import annotations

import sys
from typing import Callable, NoReturn


class UserError(Exception):
    """An error caused by the user's input (path, file, flag), shown as one line."""


class DataError(UserError):
    """A dataset file is missing, unreadable or inconsistent with its pair."""


class CheckpointError(UserError):
    """A checkpoint file is missing, corrupt, or of another architecture."""


def require(ok: bool, message: str) -> None:
    """Raise a :class:`UserError` with ``message`` unless ``ok`` (the one-line checks of the configs)."""
    if not ok:
        raise UserError(message)


def message_of(error: Exception) -> str:
    """``error``'s message. A DataLoader worker's exception reaches the main process re-raised by torch
    with the worker's whole traceback as its message ("Caught DataError in DataLoader worker process 0.
    Original Traceback ..."); the original message is that traceback's last line, after the type."""
    text = str(error)
    kind = type(error)
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    prefix = f"{kind.__module__}.{kind.__qualname__}: "
    if text.startswith(f"Caught {kind.__name__} in DataLoader worker") and last.startswith(prefix):
        return last[len(prefix):]
    return text


def exit_with(error: Exception, code: int = 2) -> NoReturn:
    """Print ``error`` as one line on stderr and exit non-zero."""
    print(f"error: {message_of(error)}", file=sys.stderr)
    raise SystemExit(code)


def run_cli(main: Callable[[], None]) -> None:
    """Run an entry point, turning :class:`UserError` into a one-line message and exit code 2."""
    try:
        main()
    except UserError as error:
        exit_with(error)
    except KeyboardInterrupt:
        exit_with(RuntimeError("interrupted"), code=130)
