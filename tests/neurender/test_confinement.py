"""Nothing read or written outside a dataset (issue 47, items 1 and 5): a scene id must be one folder
name and a view record's file must lie inside its dataset, for convert, the manifest and views.jsonl."""
from __future__ import annotations

import json
import shutil

import pytest
from nr_helpers import error_lines, run_neurender

from neurender.base.dataset import check_scene_id, check_view_file, parse_view_record


@pytest.mark.parametrize("scene_id", ["../../vd", "/abs/dir", "a/b", "..", ".", ""])
def test_a_scene_id_must_be_one_folder_name(scene_id):
    with pytest.raises(ValueError, match="is not one folder name"):
        check_scene_id(scene_id)


@pytest.mark.parametrize("file", ["../../other/000.exr", "/etc/passwd", "a/../../b.exr", ""])
def test_a_view_file_must_lie_inside_the_dataset(file):
    with pytest.raises(ValueError, match="leads out of the dataset"):
        check_view_file(file)
    with pytest.raises(ValueError):
        parse_view_record(json.dumps({"scene": "s", "view": 0, "file": file}).encode())


def test_convert_refuses_a_scene_outside_its_output(pair_dataset, tmp_path):
    view = next(pair_dataset.rglob("000.exr"))
    work = tmp_path / "cv"
    work.mkdir()
    for scene in ("../../vd", str(tmp_path / "abs")):
        result = run_neurender("convert", view, "--out", work / "c3", "--fov-deg", "50", "--scene", scene)
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and "--scene" in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv"] and not list(work.iterdir())


def test_train_and_evaluate_refuse_a_record_that_leads_out_of_the_dataset(pair_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(pair_dataset, data)
    outside = tmp_path / "other"
    outside.mkdir()
    shutil.copy(next(pair_dataset.rglob("000.exr")), outside / "000.exr")
    lines = (data / "views.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    lines[0] = json.dumps(record | {"file": "../other/000.exr"})
    (data / "views.jsonl").write_text("\n".join(lines) + "\n")
    result = run_neurender("evaluate", "--data", data, "--effect", "ao", "--method", "gtao", "--no-path-tracer",
                           "--out", tmp_path / "eval")
    lines_out = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines_out) == 1 and "leads out of the dataset" in lines_out[0], result.stderr
    from neurender.base.errors import InputError
    from neurender.data import GBufferDataset

    with pytest.raises(InputError, match="leads out of the dataset"):  # what train reads its views with
        GBufferDataset(str(data), "ao")


def test_outputs_are_kept_apart_from_their_inputs(pair_dataset, tmp_path):
    """Issue 47, item 13: train --data D --out D wrote a run into the dataset; evaluate wrote into a dataset
    or a run folder; convert into the folder of its inputs."""
    from nr_helpers import snapshot

    from data_gen.convert import PRESETS, ConvertedView, convert
    from neurender.base.errors import InputError
    from neurender.evaluation.evaluate import evaluate
    from neurender.run.config import TrainConfig
    from neurender.training.train import train

    data = tmp_path / "data"
    shutil.copytree(pair_dataset, data)
    before = snapshot(data)
    for out in (data, data / "runs" / "r"):
        with pytest.raises(InputError, match="is, lies inside or holds the input"):
            train(TrainConfig(model="fast", effect="ao", data=(str(data),), iters=1), str(out))
        with pytest.raises(InputError, match="is, lies inside or holds the input"):
            evaluate(str(data), "ao", ["gtao"], str(out))
    with pytest.raises(InputError, match="is a dataset or a run folder"):
        evaluate(str(data), "ao", ["gtao"], str(pair_dataset))
    view = next(data.rglob("000.exr"))
    with pytest.raises(InputError, match="is, lies inside or holds the input"):
        convert([str(view)], str(view.parent), PRESETS["contract"], ConvertedView(fov_x=50.0))
    assert snapshot(data) == before


def test_a_convert_that_stops_half_way_leaves_no_dataset_and_runs_again(pair_dataset, tmp_path, monkeypatch):
    """Issue 47, item 13: a convert that failed after starting left a dataset that blocked the rerun."""
    from data_gen import convert as convert_module
    from data_gen.validate import validate

    views = [str(p) for p in sorted(pair_dataset.rglob("*.exr"))][:2]
    out = tmp_path / "converted"
    real_write = convert_module.write_exr

    def fail_on_the_second(path, channels):
        if path.endswith("001.exr"):
            raise OSError(28, "No space left on device")
        real_write(path, channels)

    monkeypatch.setattr(convert_module, "write_exr", fail_on_the_second)
    with pytest.raises(OSError):
        convert_module.convert(views, str(out), convert_module.PRESETS["contract"], convert_module.ConvertedView(fov_x=50.0))
    assert not (out / "dataset.json").exists()  # nothing a reader takes for a dataset
    monkeypatch.setattr(convert_module, "write_exr", real_write)
    written = convert_module.convert(views, str(out), convert_module.PRESETS["contract"],
                                     convert_module.ConvertedView(fov_x=50.0))
    assert len(written) == 2 and validate(str(out)) == []
