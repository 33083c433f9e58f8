"""Bad input: exit status 2, exactly one `error: ...` line on stderr, no traceback, nothing written."""
from __future__ import annotations

import pytest
from nr_helpers import MAIN_SCENES, SMALL, copy_dataset, error_lines, run_main, run_neurender, snapshot


def _assert_input_error(proc, *words):
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["castle"], ["unknown scene", "castle"]),
    (["objects", "--res", "0"], ["--res"]),
    (["objects", "--spp", "-1"], ["--spp", "-1"]),
    (["objects", "--views", "0"], ["--views"]),
    (["objects", "--workers", "0"], ["--workers"]),
    (["objects", "--count", "0"], ["--count"]),
    (["objects", "--sigma-s", "-1"], ["--sigma-s"]),
    (["objects", "--ao-radius-fraction", "0"], ["--ao-radius-fraction"]),
    (["objects", "--res", "abc"], ["--res"]),
    (["objects", "--executor", "dask"], ["--executor"]),
    (["objects", "--view", "2"], ["unrecognized arguments: --view"]),  # no abbreviation of --views
    (["objects", "--ao-radius", "0.1"], ["unrecognized arguments: --ao-radius"]),  # world units elsewhere
], ids=["unknown-scene", "res-0", "spp-negative", "views-0", "workers-0", "count-0", "sigma-negative",
        "ao-radius-0", "res-not-int", "executor", "abbreviated", "ao-radius-in-world-units"])
def test_generate_rejects_bad_arguments(tmp_path, args, words):
    out = tmp_path / "out"
    proc = run_main("generate", *args, "--out", out)  # in process: the checks come before any rendering
    _assert_input_error(proc, *words)
    assert not out.exists(), "bad input must not create the output directory"


def test_missing_xml_file(tmp_path):
    missing = tmp_path / "nowhere" / "scene.xml"
    line = _assert_input_error(run_neurender("generate", missing, "--out", tmp_path / "out"), "not found")
    assert str(missing) in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, words", [
    ('<scene version="3.0.0"><shape type="sphere">', ["Mitsuba cannot load"]),
    ('<scene version="3.0.0"><shape type="no_such_plugin"/></scene>', ["Mitsuba cannot load", "no_such_plugin"]),
    ("this is not xml at all", ["Mitsuba cannot load"]),
    ('<scene version="3.0.0"><shape type="sphere"/></scene>', ["no sensor"]),
    ('<scene version="3.0.0"><include filename="/etc/passwd"/></scene>', ["leads outside the scene's folder"]),
    ('<scene version="3.0.0"><include filename="../x/../../etc/hosts"/></scene>', ["leads outside"]),
], ids=["unclosed", "unknown-plugin", "not-xml", "no-camera", "include-absolute", "include-up"])
def test_xml_mitsuba_rejects(tmp_path, text, words):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    line = _assert_input_error(run_main("generate", path, "--out", tmp_path / "out"), *words)
    assert str(path) in line and "root:" not in line  # nothing of another file quoted
    assert not (tmp_path / "out").exists()


def test_output_holding_a_dataset_with_other_options(dataset, tmp_path):
    out = copy_dataset(dataset, tmp_path / "data")
    before = snapshot(out)
    proc = run_neurender("generate", *MAIN_SCENES, "--out", out, "--views", "2", "--res", "16", "--spp", "8")
    line = _assert_input_error(proc, "other options", "render")
    assert str(out) in line
    assert snapshot(out) == before, "the existing dataset was modified"


def test_output_holding_a_dataset_with_other_scenes(dataset, tmp_path):
    out = copy_dataset(dataset, tmp_path / "data")
    before = snapshot(out)
    proc = run_neurender("generate", "objects", "--out", out, *SMALL)
    _assert_input_error(proc, "other options", "scenes")
    assert snapshot(out) == before


def test_output_holding_other_files(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = run_neurender("generate", "objects", "--out", out, *SMALL)
    _assert_input_error(proc, "not empty")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_unreadable_manifest_in_output(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "dataset.json").write_text("{ broken")
    _assert_input_error(run_neurender("generate", "objects", "--out", out, *SMALL), "dataset.json")
    assert (out / "dataset.json").read_text() == "{ broken"


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["generate"], ["generate", "objects"]],
                         ids=["no-command", "unknown-command", "no-scene", "no-out"])
def test_usage_errors(args):
    _assert_input_error(run_neurender(*args))


def test_validate_a_missing_directory(tmp_path):
    proc = run_neurender("validate", tmp_path / "nothing")
    _assert_input_error(proc)
    assert "manifest missing" in proc.stdout


def test_help_exits_zero():
    proc = run_neurender("generate", "--help")
    assert proc.returncode == 0
    for flag in ("--out", "--views", "--res", "--spp", "--seed", "--workers", "--executor"):
        assert flag in proc.stdout



@pytest.mark.parametrize("args", [["--fog-scale", "inf"], ["--sigma-s", "inf"], ["--step-deg", "nan"],
                                  ["--step-deg", "inf"]], ids=["fog-scale-inf", "sigma-s-inf", "step-nan", "step-inf"])
def test_generate_rejects_non_finite_numbers(tmp_path, args):
    out = tmp_path / "out"
    proc = run_neurender("generate", "objects", "--out", out, "--views", "2", "--res", "8", "--spp", "1", *args)
    _assert_input_error(proc, args[0])
    assert not out.exists()


@pytest.mark.parametrize("args, words", [
    (["objects", "--res", "100000"], ["--res 100000", "GiB"]),
    (["objects", "--spp", "1000000000000"], ["--spp-ao 1000000000000", "samples in one pass"]),
], ids=["res-beyond-memory", "spp-beyond-a-pass"])
def test_generate_limits_are_checked_before_rendering(tmp_path, args, words):
    out = tmp_path / "out"
    _assert_input_error(run_neurender("generate", *args, "--out", out), *words)
    assert not out.exists(), "no manifest locks the folder to impossible options"


def test_outputs_that_are_files_or_missing_folders(tmp_path, dataset, capsys):
    file = tmp_path / "file"
    file.write_text("x")
    cases = [
        (["generate", "objects", "--views", "1", "--res", "8", "--spp", "1", "--out", file], "not a directory"),
        (["evaluate", "--data", dataset, "--effect", "ao", "--no-path-tracer", "--out", file], "not a directory"),
        (["export", "--checkpoint", "pretrained:ao", "--out", tmp_path / "missing" / "g.onnx"], "does not exist"),
        (["export", "--checkpoint", "pretrained:ao", "--out", tmp_path], "is a folder"),
        (["export", "--checkpoint", "pretrained:ao", "--out", tmp_path / "g.onnx", "--size", "100000"], "at most"),
        (["export", "--checkpoint", "pretrained:ao", "--out", tmp_path / "g.onnx", "--size", "0"], "bad size"),
        (["bench", "compare", "--eval", tmp_path, "--out", tmp_path / "missing" / "b.json"], "does not exist"),
        (["bench", "compare", "--eval", tmp_path, "--out", tmp_path], "is a folder"),
    ]
    for args, words in cases:  # in this process: the command line without a fresh interpreter
        status, lines = _main(capsys, *args)
        assert status == 2 and len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], (args, lines)
    summary = tmp_path / "eval" / "summary.json"
    summary.parent.mkdir()
    summary.write_text('{"effect": "ao"}')
    _assert_input_error(run_neurender("report", summary.parent, "--out", tmp_path / "r"), "not an evaluation summary")


@pytest.mark.parametrize("body", [
    '<sensor type="perspective"><film type="hdrfilm"/></sensor>',
    '<sensor type="perspective"><film type="hdrfilm"/></sensor>'
    '<shape type="sphere"><float name="radius" value="nan"/></shape>',
], ids=["no-shape", "nan-radius"])
def test_xml_scene_without_a_finite_extent(tmp_path, body):
    path = tmp_path / "scene.xml"
    path.write_text(f'<scene version="3.0.0">{body}</scene>')
    _assert_input_error(run_neurender("generate", path, "--out", tmp_path / "out"), "finite, non-zero extent")
    assert not (tmp_path / "out").exists()


def _main(capsys, *argv) -> tuple[int, list[str]]:
    """Exit status and error lines of the command line run in this process."""
    from neurender.commands.cli import main

    status = main([str(a) for a in argv])
    return status, error_lines(capsys.readouterr().err)


def test_what_exited_1_is_one_error_line_and_exit_2(pair_dataset, tmp_path, capsys):
    """Issue 47, item 11: these gave a traceback's last line and exit 1 ("internal failure")."""
    import json
    import shutil

    view = next(pair_dataset.rglob("000.exr"))
    shipped = tmp_path / "shipped"
    shutil.copytree("neurender/pretrained/ao-fast", shipped)
    config = json.loads((shipped / "config.json").read_text())
    big = tmp_path / "big"
    shutil.copytree(pair_dataset, big)
    manifest = (big / "dataset.json").read_text()
    (big / "dataset.json").write_text(manifest.replace('"ao_radius": ', '"ao_radius": ' + "9" * 5001 + ", \"was\": ", 1))
    (tmp_path / "a_file").write_text("")
    cases = [
        (["predict", "--checkpoint", view, "--input", view, "--out", tmp_path / "p"], "is not a training run"),
        (["predict", "--checkpoint", shipped, "--input", view, "--out", tmp_path / "p"], "not a valid run config"),
        (["predict", "--checkpoint", shipped, "--input", view, "--out", tmp_path / "p"], "not an int"),
        (["stats", pair_dataset, "--out", tmp_path / "a_file"], "is a file"),
        (["convert", view, "--out", tmp_path / "c", "--fov-deg", "50", "--ao-radius", "inf"], "finite and > 0"),
        (["train", "--model", "fast", "--effect", "ao", "--data", pair_dataset, "--out", tmp_path / "r", "--lr", "inf"],
         "not a finite number"),
        (["train", "--model", "fast", "--effect", "ao", "--data", pair_dataset, "--out", tmp_path / "r",
          "--inputs", "derived", "--albedo-scaled"], "--albedo-scaled is for"),  # AO has no albedo to scale by
        (["predict", "--checkpoint", "pretrained:ao-fast", "--input", big, "--out", tmp_path / "p"], "4300 digits"),
    ]
    configs = [[1, 2], config | {"fast": config["fast"] | {"channels": 1e308}}]
    for argv, words in cases:
        if argv[2] == shipped:
            (shipped / "config.json").write_text(json.dumps(configs.pop(0)))
        status, lines = _main(capsys, *argv)
        assert status == 2 and len(lines) == 1 and words in lines[0], (argv, lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "big", "shipped"]


def test_a_bench_row_that_fails_fails_the_bench(pair_dataset, capsys):
    """Issue 47, item 11: bench printed an allocation error in every row and exited 0."""
    status, lines = _main(capsys, "bench", "predict", "--checkpoint", "pretrained:ao-fast", "--data", pair_dataset,
                          "--sizes", "99999999x99999999")
    assert status == 1 and len(lines) == 1 and "row(s) failed" in lines[0], lines


def test_from_python_bad_input_is_an_input_error_and_a_value_error():
    import numpy as np

    from neurender import Predictor, ViewParameters
    from neurender.base.errors import InputError

    assert issubclass(InputError, ValueError)
    with pytest.raises(InputError, match="fov_x"):
        ViewParameters(fov_x=500.0)
    predictor = Predictor("pretrained:ao-fast")
    empty = {name: np.zeros((0, 0), np.float32) for name in predictor.effect.inputs + ("mask.Y",)}
    with pytest.raises(InputError, match="empty"):
        predictor(empty, ViewParameters(fov_x=50.0, ao_radius=0.5))


def test_a_full_disk_is_one_error_line_and_exit_2(pair_dataset, tmp_path, capsys, monkeypatch):
    """Issue 47, item 11: a full disk gave a traceback's last line and exit 1."""
    import errno

    from neurender.commands import data

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "stats" / "stats.png"))

    monkeypatch.setattr(data, "write_stats", full)
    status, lines = _main(capsys, "stats", pair_dataset, "--out", tmp_path / "stats")
    assert status == 2 and lines == [f"error: No space left on device: {tmp_path / 'stats' / 'stats.png'} (free some "
                                     "space, then run the same command again)"], lines
