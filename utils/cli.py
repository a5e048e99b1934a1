"""Script plumbing: logging set-up and turning user errors into one line and an exit code."""
from __future__ import annotations

import logging
import sys
from typing import Callable

# Errors a user can cause and fix: shown as one line, never as a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError, IsADirectoryError)


def setup_logging(verbose: bool = False) -> None:
    """Plain `level: message` lines on stderr; INFO by default, DEBUG with --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # Third-party libraries chatter at DEBUG (matplotlib font manager, PIL).
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[], int | None], name: str) -> None:
    """Run `main()`; exit 0, or print `name: error: ...` and exit 1 (2 for Ctrl-C)."""
    try:
        code = main()
    except USER_ERRORS as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
