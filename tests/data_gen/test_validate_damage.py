"""`neurender validate` and data_gen.validate.validate find damage and name the damaged file."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from nr_helpers import copy_dataset, error_lines, read_view, run_main, run_neurender

SCENE, VIEW = "objects_000", 1
RELATIVE = f"{SCENE}/{VIEW:03d}.exr"


@pytest.fixture
def damaged(dataset, tmp_path):
    """A private copy of the session dataset and the EXR to damage in it."""
    copy = copy_dataset(dataset, tmp_path / "copy")
    return copy, copy / RELATIVE


def _rewrite(path, change):
    from neurender.base.exr import read_exr, write_exr

    channels = read_exr(str(path))
    change(channels)
    write_exr(str(path), channels)


def _assert_cli_rejects(directory, path, words):
    """Exit 2 with the error line last on stderr; stdout lists the problems, each naming ``path``."""
    proc = run_main("validate", directory)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert lines and lines[-1].startswith("error: 1 problem"), proc.stderr
    assert "Traceback" not in proc.stderr
    naming = [line for line in proc.stdout.splitlines() if str(path) in line]
    assert naming, f"{path} not named in:\n{proc.stdout}"
    assert any(all(w in line for w in words) for line in naming), proc.stdout
    # only the damaged file is reported
    reported = [line for line in proc.stdout.splitlines() if line.startswith(str(directory))]
    assert all(line.startswith(f"{path}: ") for line in reported), proc.stdout


def _problems(directory):
    from data_gen.validate import validate

    return validate(str(directory))


def test_corrupted_exr(damaged):
    directory, path = damaged
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:] = (b"\xde\xad\xbe\xef" * len(data))[: len(data) - start]
    path.write_bytes(bytes(data))
    _assert_cli_rejects(directory, path, ["EXR"])


def test_corrupted_exr_gives_one_error_line(damaged):
    directory, path = damaged
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:] = (b"\xde\xad\xbe\xef" * len(data))[: len(data) - start]
    path.write_bytes(bytes(data))
    proc = run_neurender("validate", directory)  # the OpenEXR library prints: a process
    assert proc.returncode == 2
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    assert all(line.startswith(f"{path}: ") for line in proc.stdout.splitlines()), proc.stdout


def test_truncated_exr(damaged):
    directory, path = damaged
    path.write_bytes(path.read_bytes()[:100])
    _assert_cli_rejects(directory, path, [])


def test_removed_channel(damaged):
    directory, path = damaged
    _rewrite(path, lambda ch: ch.pop("normal.X"))
    _assert_cli_rejects(directory, path, ["normal.X"])


def test_broken_normals(damaged):
    directory, path = damaged

    def stretch(ch):
        for a in "XYZ":
            ch[f"normal.{a}"] = ch[f"normal.{a}"] * 1.5

    _rewrite(path, stretch)
    _assert_cli_rejects(directory, path, ["unit length"])


@pytest.mark.parametrize("change, words", [
    (lambda ch: ch.__setitem__("depth.Z", -np.abs(ch["depth.Z"])), ["depth"]),
    (lambda ch: ch["R"].__setitem__((3, 4), np.nan), ["R", "NaN"]),
    (lambda ch: ch["fog.G"].__setitem__((0, 0), np.inf), ["fog.G"]),
    (lambda ch: ch.__setitem__("ao.Y", ch["ao.Y"] + 0.5), ["ao.Y"]),
    (lambda ch: ch.__setitem__("mask.Y", ch["mask.Y"] * 0.5), ["mask.Y"]),
    (lambda ch: ch.update({k: v[:8, :] for k, v in ch.items()}), ["manifest says"]),
], ids=["negative-depth", "nan", "inf", "ao-range", "mask-not-binary", "resolution"])
def test_channel_damage_is_named(damaged, change, words):
    directory, path = damaged
    _rewrite(path, change)
    problems = _problems(directory)
    assert problems, "damage not found"
    assert {p for p, _ in problems} == {str(path)}
    assert any(all(w in message for w in words) for _, message in problems), problems


def test_good_copy_has_no_problem(damaged):
    directory, _ = damaged
    assert _problems(directory) == []


def test_view_missing_from_views_jsonl(damaged):
    directory, path = damaged
    log = directory / "views.jsonl"
    lines = [line for line in log.read_text().splitlines()
             if (json.loads(line)["scene"], json.loads(line)["view"]) != (SCENE, VIEW)]
    log.write_text("\n".join(lines) + "\n")
    problems = _problems(directory)
    messages = [m for _, m in problems]
    assert any(f"view {VIEW} not in views.jsonl" in m for m in messages), problems
    # the EXR is still there, but nothing records it
    assert (str(path), "EXR not recorded in views.jsonl") in problems


def test_deleted_exr(damaged):
    directory, path = damaged
    os.remove(path)
    problems = _problems(directory)
    assert any(p == str(path) for p, _ in problems), problems


def test_garbage_line_in_views_jsonl(damaged):
    directory, _ = damaged
    with open(directory / "views.jsonl", "a") as log:
        log.write("this is not json\n")
    problems = _problems(directory)
    assert [(p, m.split(":")[0]) for p, m in problems] == [(str(directory / "views.jsonl"), "line 7")]
    assert "not JSON" in problems[0][1]


def test_binary_duplicate_and_out_of_range_records(damaged):
    """Bytes that are not text, a record twice and a view number beyond the dataset are each reported;
    commands that read the views refuse the binary line with one error line, exit 2."""
    directory, _ = damaged
    lines = (directory / "views.jsonl").read_bytes().splitlines()
    record = json.loads(lines[0])
    beyond = dict(record, view=99)
    (directory / "views.jsonl").write_bytes(b"\n".join(lines + [lines[0], json.dumps(beyond).encode(),
                                                                 b"\xff\xfe\x00binary"]) + b"\n")
    messages = [m for _, m in _problems(directory)]
    assert any("recorded twice" in m for m in messages), messages
    assert any("view 99 is outside the dataset's 2 views" in m for m in messages), messages
    assert any(m.startswith("line 9: not JSON") for m in messages), messages
    for args in (["stats", directory, "--out", directory.parent / "stats"],
                 ["evaluate", "--data", directory, "--effect", "ao", "--no-path-tracer", "--out", directory.parent / "e"]):
        proc = run_main(*args)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "line 9: not JSON" in proc.stderr, proc.stderr


def test_missing_manifest(damaged):
    directory, _ = damaged
    os.remove(directory / "dataset.json")
    assert _problems(directory) == [(str(directory / "dataset.json"), "manifest missing")]
    proc = run_main("validate", directory)
    assert proc.returncode == 2 and "dataset.json" in proc.stdout


def test_unreadable_manifest(damaged):
    directory, _ = damaged
    (directory / "dataset.json").write_text("{ not json")
    problems = _problems(directory)
    assert len(problems) == 1 and problems[0][0] == str(directory / "dataset.json")


def test_damage_does_not_touch_the_session_dataset(dataset):
    """The damaging tests work on copies: the shared dataset still reads as rendered."""
    channels = read_view(dataset, SCENE, VIEW)
    assert "normal.X" in channels
    on = channels["mask.Y"] == 1
    length = np.sqrt(sum(channels[f"normal.{a}"] ** 2 for a in "XYZ"))
    np.testing.assert_allclose(length[on], 1, atol=1e-3)


def test_readers_warn_about_missing_views_and_refuse_a_scene_without_id(damaged, tmp_path):
    directory, path = damaged
    os.remove(path)
    proc = run_main("evaluate", "--data", directory, "--effect", "ao", "--method", "gtao", "--no-path-tracer",
                    "--out", tmp_path / "eval")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert proc.returncode == 0 and len(warnings) == 1 and "1 of the 6 views" in warnings[0], proc.stderr
    manifest = json.loads((directory / "dataset.json").read_text())
    del manifest["scenes"][0]["id"]
    (directory / "dataset.json").write_text(json.dumps(manifest))
    proc = run_main("stats", directory, "--out", tmp_path / "stats")
    assert proc.returncode == 2 and error_lines(proc.stderr) == [
        f"error: {directory / 'dataset.json'}: scene 0 has no id"], proc.stderr


def test_what_predict_would_trust_is_a_problem(damaged):
    """Issue 47, item 12: validate accepted fov "fifty" or 0, ao_radius -1 or Infinity, channels null, a camera
    size unlike the EXR's, and a res of "32" (42 nonsense problems)."""
    from data_gen.validate import validate

    directory, _ = damaged
    manifest_path = directory / "dataset.json"
    pristine = manifest_path.read_text()
    cases = [(lambda m: m["scenes"][0]["camera"].update(fov_x="fifty"), "could not convert string to float"),
             (lambda m: m["scenes"][0]["camera"].update(fov_x=0), "fov_x (--fov-deg) is 0.0"),
             (lambda m: m["scenes"][0].update(ao_radius=-1), "ao_radius (--ao-radius) is -1"),
             (lambda m: m["scenes"][0].update(ao_radius=float("inf")), "ao_radius (--ao-radius) is inf"),
             (lambda m: m["scenes"][0].update(channels=None), "channels is None"),
             (lambda m: m["generation"]["render"].update(res="32"), "res is '32'")]
    for change, words in cases:
        manifest = json.loads(pristine)
        change(manifest)
        manifest_path.write_text(json.dumps(manifest))
        problems = validate(str(directory))
        assert len(problems) == 1 and words in problems[0][1], (words, problems)
    manifest_path.write_text(pristine)
    views = (directory / "views.jsonl").read_text().splitlines()
    record = json.loads(views[0])
    record["camera"]["width"] += 1
    (directory / "views.jsonl").write_text("\n".join([json.dumps(record)] + views[1:]) + "\n")
    problems = validate(str(directory))
    assert len(problems) == 1 and "camera says" in problems[0][1] and record["file"] in problems[0][0], problems


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update({"mask.Y": c["mask.Y"] * 7}), "outside [0, 1]"),
    (lambda c: c.update({"depth.Z": -c["depth.Z"]}), "depth.Z <= 0"),
], ids=["mask-7", "negative-depth"])
def test_predict_refuses_an_exr_out_of_contract(damaged, tmp_path, change, words):
    """Issue 47, item 12: an EXR with mask.Y = 7 or negative depth was predicted silently."""
    _, path = damaged
    _rewrite(path, change)
    proc = run_main("predict", "--checkpoint", "pretrained:ao-fast", "--input", path, "--out", tmp_path / "p")
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0] and str(path) in lines[0], proc.stderr
    assert not (tmp_path / "p").exists()
