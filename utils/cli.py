"""Script plumbing: argument parsers, flags to config dataclasses, logging, one-line errors."""
from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import sys
from typing import Any, Callable, TypeVar

# Errors a user can cause and fix: shown as one line, never as a traceback. OSError covers the
# folders and disks a user controls (PermissionError, FileNotFoundError, a full disk...).
USER_ERRORS = (ValueError, OSError)

Config = TypeVar("Config")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and shows each option's default: its value, `off` for
    a switch, and nothing for None (the help text then says what happens)."""

    @staticmethod
    def _default_text(action: argparse.Action) -> str | None:
        default = action.default
        if not action.option_strings or action.required or default is None or default == argparse.SUPPRESS:
            return None
        if default is False and action.nargs == 0:
            return "(default: off)"
        return "(default: %(default)s)"

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._default_text(action):
            action = copy.copy(action)
            action.help = self._default_text(action)
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = self._default_text(action)
        if shown is None or "%(default)" in text or "(default: " in text:
            return text
        return f"{text} {shown}"


def make_parser(description: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    """An argument parser whose --help keeps `description` as written and shows the defaults."""
    return argparse.ArgumentParser(description=description, formatter_class=HelpFormatter, **kwargs)


def add_execution_args(p: argparse.ArgumentParser, lock_timeout: float | None = None) -> None:
    """`--threads` (and, for scripts that write into shared folders, `--lock-timeout`) in an "execution" group."""
    from utils.threads import AUTO, AUTO_THREADS, THREADS_ENV, default_threads

    group = p.add_argument_group("execution")
    group.add_argument("--threads", default=default_threads(), metavar="N",
                       help=f"CPU threads for torch and numpy; {AUTO} = {AUTO_THREADS} (fastest for these small models,"
                            f" and no slowdown when other processes are busy); ${THREADS_ENV} sets the default")
    if lock_timeout is not None:
        group.add_argument("--lock-timeout", type=float, default=lock_timeout, metavar="SECONDS",
                           help="how long to wait while another process writes the same folder")


def config_from_args(cls: type[Config], args: argparse.Namespace, **extra: Any) -> Config:
    """`cls(...)` from the parsed flags whose names are fields of the dataclass `cls`.

    `extra` gives the fields that no flag of the same name sets (`progress=not args.no_progress`);
    it wins over a flag of the same name. Flags that are not fields are ignored.
    """
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(extra) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
    values = {name: value for name, value in vars(args).items() if name in names}
    return cls(**{**values, **extra})


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
    except KeyboardInterrupt as exc:
        # A Ctrl-C held back while files were renamed says that they were all written (utils.staging).
        print(f"{name}: interrupted" + (f" {exc}" if str(exc) else ""), file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
