"""The dataset format on disk: file names, the manifest and the finished-views log.

    DIR/dataset.json            manifest (format, renderer, options, channels, scenes)
    DIR/views.jsonl             one line per finished view, appended after its EXR is in place
    DIR/<scene_id>/<view>.exr   one multi-channel EXR per view
"""
from __future__ import annotations

import json
import os

from neurender.base.errors import InputError

FORMAT_VERSION = 1
MANIFEST, VIEWS = "dataset.json", "views.jsonl"


def read_views(root: str) -> list[dict]:
    """Finished views: lines of views.jsonl whose EXR exists (a torn last line is ignored)."""
    path = os.path.join(root, VIEWS)
    records = []
    if os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if os.path.isfile(os.path.join(root, record["file"])):
                    records.append(record)
    return records


def read_view_records(root: str) -> list[dict]:
    """Finished views (:func:`read_views`), one per (scene, view), sorted."""
    unique = {(r["scene"], r["view"]): r for r in read_views(root)}
    return [unique[k] for k in sorted(unique)]


def load_manifest(root: str) -> dict:
    """The parsed ``dataset.json`` of ``root``; InputError when missing or unreadable."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        raise InputError(f"{root} holds no {MANIFEST}; not a neurender dataset")
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable manifest: {exc}") from None
    if not isinstance(manifest.get("scenes"), list):
        raise InputError(f"{path} has no scenes list")
    return manifest
