"""Command-line flags derived from option dataclasses (the one mechanism every command uses).

Each field of an option dataclass is a flag ``--field-name`` whose help is the field's docstring
(the string literal right after it) and its default; nested dataclasses give ``--nested.field-name``
flags, or plain ones with ``metadata={"flatten": True}``. Types: int, float, str, bool
(``--x/--no-x``), ``Literal[...]`` (choices), ``X | None``, ``tuple[X, ...]`` (one or more values) and
``tuple[X, X]`` (exactly two). Field metadata may add ``positional``, ``required``, ``choices``,
``parse`` (a function from the text to the value; to each value of a ``tuple[X, ...]``), ``metavar``,
``flag`` (another flag name),
``derived`` (the help shows the declared default, which ``__post_init__`` resolves) and ``cli: False``
(no flag). Defaults of nested fields come from the parent's default, so a nested
config that its parent builds with other values shows those.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import types
import typing

from neurender.base.errors import InputError


def field_docs(cls) -> dict[str, str]:
    """Field name -> its docstring (the string literal right after the field), whitespace folded."""
    docs = {}
    for klass in reversed(cls.__mro__[:-1]):  # fields of base classes too
        try:
            body = ast.parse(inspect.getsource(klass)).body[0].body
        except (OSError, TypeError):
            continue
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def plain(text: str) -> str:
    """Docstring ``text`` as a terminal shows it: code spans (``x``, `x`) without their backticks."""
    return re.sub(r"`+([^`]+)`+", r"\1", text)


def _default(f: dataclasses.Field, parent_default):
    """The default of field ``f``: from the parent's default instance when there is one (but the
    declared one of a ``derived`` field)."""
    if parent_default is not None and not f.metadata.get("derived"):
        return getattr(parent_default, f.name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _show(value) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) if value else "none"
    return "none" if value is None or value == "" else str(value)


def _parser_type(parse):
    """``parse`` as an argparse type: its ValueError message becomes argparse's error message."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def _kind(hint, meta) -> dict:
    """argparse keyword arguments for a field of type ``hint`` with metadata ``meta``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _kind(next(a for a in args if a is not type(None)), meta)
    if origin is tuple and args[-1] is Ellipsis:  # one or more arguments, each read on its own
        return {**_kind(args[0], meta), "nargs": "*"}
    if "parse" in meta:
        return {"type": _parser_type(meta["parse"]), "metavar": meta.get("metavar", "VALUE")}
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"type": type(args[0]), "choices": args}
    if origin is tuple:
        return {**_kind(args[0], meta), "nargs": len(args)}
    out = {"type": hint, "metavar": meta.get("metavar", hint.__name__.upper() if hint is not str else None)}
    if "choices" in meta:
        out["choices"] = tuple(meta["choices"])
        out.pop("metavar")
    return out


def add_arguments(parser: argparse.ArgumentParser, cls, parent_default=None, prefix: str = "") -> None:
    """One flag (or positional argument) per field of dataclass ``cls``; flags left out keep their
    defaults (they are absent from the parsed namespace)."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    for f in dataclasses.fields(cls):
        meta, hint = f.metadata, hints[f.name]
        if not meta.get("cli", True):
            continue
        default = _default(f, parent_default)
        if dataclasses.is_dataclass(hint):
            add_arguments(parser, hint, None if default is dataclasses.MISSING else default,
                          prefix if meta.get("flatten") else f"{prefix}{f.name}.")
            continue
        required = default is dataclasses.MISSING or meta.get("required", False)
        kind = _kind(hint, meta)
        text = plain(docs.get(f.name, ""))
        if not required and "(default:" not in text:  # a field may say its default in its own words
            text += f" (default: {_show(default)})"
        if kind.get("nargs") == "*" and required:
            kind["nargs"] = "+"  # a required list takes at least one value
        if meta.get("positional"):
            parser.add_argument(prefix + f.name, help=text, **{**kind, "metavar": meta.get("metavar") or f.name.upper()},
                                **({} if required else {"default": argparse.SUPPRESS}))
            continue
        if kind.get("metavar", "") is None:
            kind["metavar"] = f.name.upper()
        flag = "--" + prefix + meta.get("flag", f.name.replace("_", "-"))
        parser.add_argument(flag, dest=prefix + f.name, default=argparse.SUPPRESS, required=required, help=text, **kind)


def from_args(cls, given: dict, parent_default=None, prefix: str = ""):
    """An instance of ``cls`` from the parsed flags ``given`` (a namespace's dict); InputError when a
    value is invalid for its dataclass."""
    hints, values = typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        default = _default(f, parent_default)
        if dataclasses.is_dataclass(hints[f.name]):
            nested = prefix if f.metadata.get("flatten") else f"{prefix}{f.name}."
            values[f.name] = from_args(hints[f.name], given, None if default is dataclasses.MISSING else default, nested)
        elif prefix + f.name in given:
            value = given[prefix + f.name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
        elif default is not dataclasses.MISSING:
            values[f.name] = default
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{prefix.rstrip('.') or cls.__name__}: {exc}") from None


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


def size_token(token: str) -> str:
    """``token`` when `parse_size` reads it (the flag keeps the text; ValueError otherwise)."""
    parse_size(token)
    return token


SIZE = {"parse": size_token, "metavar": "SIZE"}
"""Field metadata of an image size given as text (N, WxH, 720p, 1080p, 1440p, 2160p)."""


class Parser(argparse.ArgumentParser):
    """argparse with the toolkit's error contract: a bad command line is one ``error:`` line, exit 2."""

    def error(self, message):
        raise InputError(f"{self.prog}: {message}")


def parser_for(prog: str, cls) -> Parser:
    """The parser of command ``prog`` whose options are dataclass ``cls`` (its docstring: the description)."""
    parser = Parser(prog=prog, description=plain(cls.__doc__ or ""), allow_abbrev=False)  # --view is not --views
    add_arguments(parser, cls)
    return parser


def parse(prog: str, cls, argv: list[str]):
    """The options (an instance of ``cls``) of command ``prog`` from its arguments ``argv``."""
    return from_args(cls, vars(parser_for(prog, cls).parse_args(argv)))
