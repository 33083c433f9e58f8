"""Outputs: folders kept apart from their inputs (checked on resolved paths: links count where they lead),
and single files that can be written."""
from __future__ import annotations

import os
from collections.abc import Iterable

from neurender.base.errors import InputError


def check_apart(out: str, inputs: Iterable[str], flag: str = "--out") -> None:
    """InputError when the output ``out`` is, lies inside or holds one of ``inputs`` (folders or files):
    writing it could overwrite or mix with what is read."""
    target = os.path.realpath(out)
    for path in inputs:
        source = os.path.realpath(path)
        if target == source or target.startswith(source + os.sep) or source.startswith(target + os.sep):
            raise InputError(f"{flag} {out} is, lies inside or holds the input {path}; choose another folder")


def check_output_file(out: str, kind: str, flag: str = "--out") -> None:
    """InputError unless ``out`` can be written as a file (``kind``, for the message: "ONNX", "JSON"):
    it is not a folder and its folder exists."""
    if os.path.isdir(out):
        raise InputError(f"{flag} {out} is a folder; give the {kind} file's path")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {out}: {parent} does not exist")
