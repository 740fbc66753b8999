"""How the CLI reports a mistake or a failure: one line on stderr, never a traceback.

Exit codes, as ``tributary --help`` promises: 2 for a usage error (an unknown command or
option, a missing argument, a value of the wrong kind), 1 for a failure, 130 when
interrupted.
"""

from __future__ import annotations

import re
import traceback

import typer

# Typer 0.29 ships its own copy of Click, and exports none of its usage errors.
from typer._click import exceptions as click_errors

from tributary.cli.hints import with_hint
from tributary.errors import TributaryError

# What a command raises for a usage mistake of its own (exit 2, like Typer's own).
UsageError = click_errors.UsageError

USAGE = 2
FAILURE = 1
INTERRUPTED = 130

# What a value of a number-typed parameter had to be, by the validation error's type.
_EXPECTED = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
}
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]+@")


def one_line(message: str) -> str:
    """``message`` on one line, with any ``user:password@`` of a URL in it left out."""
    return _URL_CREDENTIALS.sub("", " ".join(message.split()))


def say_error(message: str) -> None:
    """The one line on stderr: ``error: …``."""
    typer.echo(f"error: {one_line(message)}", err=True)


def report_usage_error(exc: click_errors.UsageError) -> int:
    """Say what was typed wrong and where help is; the exit code (2)."""
    command = exc.ctx.command_path if exc.ctx is not None else "tributary"
    if isinstance(exc, click_errors.NoArgsIsHelpError):
        # A bare `tributary` or `tributary dataset` asks what there is: show it, on stdout
        # as --help does, and still exit 2 so that a script missing its command stops.
        typer.echo(exc.ctx.get_help())
        say_error(f"missing command (the commands of {command} are listed above)")
        return USAGE
    say_error(f"{_usage_message(exc)}; try: {command} --help")
    return USAGE


def _usage_message(exc: click_errors.UsageError) -> str:
    if isinstance(exc, click_errors.NoSuchOption) and _is_number(exc.option_name):
        return (
            f"{exc.option_name} is read as an option, and no option has that name: "
            "a number given here cannot be negative"
        )
    if isinstance(exc, click_errors.NoSuchOption) and exc.possibilities:
        options = " or ".join(sorted(exc.possibilities))
        return f"no such option {exc.option_name} (did you mean {options}?)"
    if isinstance(exc, click_errors.BadParameter) and not isinstance(
        exc, click_errors.MissingParameter
    ):
        wrong_kind = _wrong_kind(exc)
        if wrong_kind:
            return wrong_kind
    message = exc.format_message().rstrip(".")
    return message[:1].lower() + message[1:]


def _wrong_kind(exc: click_errors.BadParameter) -> str | None:
    """``invalid value for '--quota': 'lots' is not a whole number`` for a value Typer could
    not convert (its own message names neither the value nor what it should be)."""
    errors = getattr(exc.__cause__, "errors", None)
    if not callable(errors) or exc.param is None:
        return None
    first = (errors() or [{}])[0]
    expected = _EXPECTED.get(first.get("type", ""))
    if expected is None:
        return None
    hint = exc.param.get_error_hint()
    return f"invalid value for {hint}: {first.get('input')!r} is not {expected}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def report_failure(exc: BaseException, *, verbose: bool) -> int:
    """Say why the command failed; the exit code (1).

    A Tributary error is one line that says what is wrong, with the command that helps
    next. A file the CLI could not read or write is named with the reason. Anything else
    is a bug: one line by default, the traceback with ``-v``.
    """
    if isinstance(exc, TributaryError):
        say_error(with_hint(exc))
    elif isinstance(exc, click_errors.ClickException):
        say_error(exc.format_message())
        return exc.exit_code
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        say_error(f"{exc.strerror}{where}")
    else:
        if verbose:
            traceback.print_exception(exc)
        say_error(
            f"unexpected {type(exc).__name__}: {exc}"
            + ("" if verbose else " (run again with -v for the details)")
        )
    return FAILURE
