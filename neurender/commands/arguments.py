"""Every command's flags, from its options dataclass, by tyro (as nerfstudio's commands).

Each field is a flag ``--field-name`` whose help is the field's docstring and its default; a nested
dataclass gives ``--nested.field-name`` flags, or plain ones when annotated ``tyro.conf.arg(name="")``.
What else a flag needs is in its field's annotation: ``tyro.conf.Positional``,
``tyro.conf.arg(metavar=..., name=...)``, ``tyro.conf.Suppress`` (no flag). A value is checked once, by
its dataclass (``__post_init__``). A bad command line is one ``error:`` line, exit 2: the parse-error
event tyro reports is written as one line (`one_line`) instead of tyro's panel.
"""
from __future__ import annotations

import re

import tyro
from tyro import _errors, _strings  # private parts, hence tyro pinned below 1.1 in pyproject.toml

from neurender.base.errors import InputError


def help_text(docstring: str) -> str:
    """A docstring as the help shows it: its paragraphs each on one line, code spans (``x``, `x`) without
    their backticks."""
    plain = re.sub(r"`+([^`]+)`+", r"\1", docstring.strip())
    return "\n\n".join(" ".join(block.split()) for block in re.split(r"\n\s*\n", plain))


_strings.remove_single_line_breaks = help_text  # tyro 1.0 keeps a break before every indented line of a docstring


def _flag(argument) -> str:
    """How the help names an argument: its flag, or a positional one's metavar (``DATASET``)."""
    return argument.lowered.metavar if argument.is_positional() else argument.lowered.name_or_flags[0]


def _reason(message: str) -> str:
    """tyro's reason a value was refused, in one line: for a union (``X | None``), the reasons of its
    members other than None."""
    reasons = [line[2:].split(": ", 1)[-1] for line in message.splitlines()
               if line.startswith("- ") and "NoneType" not in line]
    return "; ".join(reasons) if "Got errors" in message and reasons else " ".join(message.split())


def one_line(event: _errors.ParseErrorEvent) -> str:
    """A tyro parse-error event as one line of text, led by the command (``neurender predict: ...``)."""
    if isinstance(event, _errors.MissingArgs):
        text = "the following arguments are required: " + ", ".join(_flag(a.arg) for a in event.missing_arguments)
    elif isinstance(event, _errors.UnrecognizedArgs):
        text = "unrecognized arguments: " + " ".join(event.tokens)
    elif isinstance(event, _errors.InvalidChoice):
        choices = ", ".join(sorted(set(event.choices), key=str.lower))
        text = f"argument {_flag(event.argument)}: invalid choice {event.value!r} (choose from {choices})"
    elif isinstance(event, _errors.BadValue):
        text = f"argument {_flag(event.argument)}: " + ("takes no value" if event.reason == "fixed" else "too few values")
    elif isinstance(event, _errors.InstantiationFailure):
        reason = _reason(event.message)
        text = f"argument {_flag(event.argument)}: {reason}" if event.argument is not None else reason
    else:  # an event of a later tyro: its class names it
        text = " ".join(re.sub(r"(?<!^)([A-Z])", r" \1", type(event).__name__).lower().split())
    return f"{event.prog}: {text}"


def _refuse(event: _errors.ParseErrorEvent) -> None:
    raise InputError(one_line(event))


def parse(prog: str, cls, argv: list[str]):
    """The options (an instance of ``cls``) of command ``prog`` from its arguments ``argv``; None when
    ``argv`` asked for the help, which is then printed. InputError for a bad command line."""
    try:
        with _errors.on_parse_error(_refuse):
            return tyro.cli(cls, args=argv, prog=prog, description=help_text(cls.__doc__ or ""))
    except SystemExit as exit:  # --help: tyro printed it and exits 0 (a bad command line raised InputError)
        if exit.code:
            raise
        return None


SIZE_NAMES = {"720p": (720, 1280), "1080p": (1080, 1920), "1440p": (1440, 2560), "2160p": (2160, 3840)}


def parse_size(token: str) -> tuple[int, int]:
    """(height, width) of an image size: ``N`` (N x N pixels), ``WxH`` or a name of `SIZE_NAMES`
    (16:9); ValueError otherwise."""
    if token in SIZE_NAMES:
        return SIZE_NAMES[token]
    parts = token.lower().split("x")
    if len(parts) in (1, 2) and all(p.isdigit() and int(p) > 0 for p in parts):
        width, height = int(parts[0]), int(parts[-1])
        return height, width
    raise ValueError(f"bad size {token!r}: use N (N x N pixels), WxH or one of {', '.join(SIZE_NAMES)}")


def check_sizes(flag: str, tokens: tuple[str, ...]) -> None:
    """InputError naming ``flag`` when a token of ``tokens`` is not a size `parse_size` reads."""
    for token in tokens:
        try:
            parse_size(token)
        except ValueError as exc:
            raise InputError(f"{flag}: {exc}") from None


def check_given(flag: str, values: tuple) -> None:
    """InputError when ``values``, of a flag that takes one value or more, is empty."""
    if not values:
        raise InputError(f"{flag}: give at least one value")
