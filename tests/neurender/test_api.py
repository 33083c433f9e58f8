"""The Python API (``from neurender import ...``) and bringing a G-buffer from another renderer."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from nr_helpers import REPO, error_lines, load_records, run_main, run_neurender

import neurender
from data_gen.convert import PRESETS, ConvertedView, convert, from_contract
from neurender import Predictor, load_gbuffer, load_view
from neurender.base.errors import InputError
from neurender.base.exr import read_exr, write_exr
from neurender.effects import EFFECTS

AO = EFFECTS["ao"]


def test_importing_the_package_loads_neither_torch_nor_mitsuba():
    code = "import sys, neurender; print('torch' in sys.modules, 'mitsuba' in sys.modules, neurender.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.startswith("False False") and "Predictor" in out
    with pytest.raises(AttributeError, match="no attribute 'predictor'"):
        neurender.predictor  # noqa: B018 - the attribute access is what raises


def test_named_channels_of_any_kind_dtype_and_batch(pair_dataset):
    exr = pair_dataset / load_records(pair_dataset)[0]["file"]
    gbuffer, view = load_gbuffer(str(exr)), load_view(str(exr))
    assert gbuffer["depth.Z"].dtype == np.float32 and view.fov_x > 0 and view.ao_radius > 0
    predictor = Predictor.from_pretrained("ao")
    ao = predictor(gbuffer, view)
    assert list(ao) == ["ao.Y"] and isinstance(ao["ao.Y"], np.ndarray)
    assert np.array_equal(Predictor.from_pretrained("pretrained:ao")(gbuffer, view)["ao.Y"], ao["ao.Y"])  # issue 50
    assert ao["ao.Y"].shape == gbuffer["depth.Z"].shape and ao["ao.Y"].dtype == np.float32
    inputs = torch.from_numpy(np.stack([gbuffer[c] for c in AO.inputs]))[None]
    mask = torch.from_numpy(gbuffer["mask.Y"])[None, None]
    assert np.array_equal(ao["ao.Y"], predictor.predict(inputs, mask, view)[0][0, 0].numpy())
    # float64 numpy and a batch of two float16 torch tensors give the same answer (to fp16 rounding)
    as64 = predictor({k: v.astype(np.float64) for k, v in gbuffer.items()}, view)["ao.Y"]
    assert np.array_equal(as64, ao["ao.Y"])
    batch = {k: torch.from_numpy(np.stack([v, v])).half() for k, v in gbuffer.items()}
    got = predictor(batch, fov_x=view.fov_x, ao_radius=view.ao_radius, sigma_t=view.sigma_t)["ao.Y"]
    assert isinstance(got, torch.Tensor) and got.shape == (2, *ao["ao.Y"].shape) and got.dtype == torch.float32
    assert (got[1] - torch.from_numpy(ao["ao.Y"])).abs().max() < 0.05


def test_without_a_mask_the_surface_is_where_the_depth_is_finite(pair_dataset):
    """Issue 50, item 5: ``mask.Y`` was required although convert derives it from depth."""
    exr = pair_dataset / load_records(pair_dataset)[0]["file"]
    gbuffer, view = load_gbuffer(str(exr)), load_view(str(exr))
    predictor = Predictor.from_pretrained("ao")
    expected = predictor(gbuffer, view)["ao.Y"]
    off = gbuffer["mask.Y"] <= 0.5
    assert off.any() and not off.all()
    for background in (np.inf, np.nan, 0.0, 1e10):  # what renderers write where no surface is
        bare = {k: v for k, v in gbuffer.items() if k != "mask.Y"} | {"depth.Z": np.where(off, background, gbuffer["depth.Z"])}
        assert np.array_equal(predictor(bare, view)["ao.Y"], expected), background
        as_torch = predictor({k: torch.from_numpy(v) for k, v in bare.items()}, view)["ao.Y"]
        assert torch.equal(as_torch, torch.from_numpy(expected)), background


def test_named_channels_refuse_what_they_cannot_read(pair_dataset):
    exr = str(pair_dataset / load_records(pair_dataset)[0]["file"])
    gbuffer, view = load_gbuffer(exr), load_view(exr)
    predictor = Predictor.from_pretrained("ao")
    with pytest.raises(InputError, match=r"missing channels depth.Z, mask.Y: pretrained:ao reads normal.X"):
        predictor({k: v for k, v in gbuffer.items() if k not in ("depth.Z", "mask.Y")}, view)
    with pytest.raises(InputError, match="mix numpy arrays and torch tensors"):
        predictor(gbuffer | {"mask.Y": torch.from_numpy(gbuffer["mask.Y"])}, view)
    with pytest.raises(InputError, match=r"differ in shape: .*depth.Z \(4, 4\)"):
        predictor(gbuffer | {"depth.Z": np.ones((4, 4))}, view)
    with pytest.raises(InputError, match="fov_x \\(--fov-deg\\), ao_radius \\(--ao-radius\\)"):
        predictor(gbuffer)
    with pytest.raises(InputError, match="dict of named channels"):
        predictor(np.zeros((5, 8, 8)), view)
    with pytest.raises(InputError, match="is not a view of a neurender dataset"):
        write_exr(str(pair_dataset.parent / "loose.exr"), gbuffer)
        load_view(str(pair_dataset.parent / "loose.exr"))


def test_a_blender_gbuffer_converts_back_to_the_contract(pair_dataset, tmp_path):
    records = load_records(pair_dataset)[:2]
    angle = math.radians(30)
    to_world = np.array([[math.cos(angle), 0, math.sin(angle), 1], [0, 1, 0, 2], [-math.sin(angle), 0, math.cos(angle), 3],
                         [0, 0, 0, 1]])
    originals, sources = [], []
    for i, record in enumerate(records):
        original = read_exr(str(pair_dataset / record["file"]))
        fov_x = record["camera"]["fov_x"]
        source = tmp_path / f"blender_{i}.exr"
        blender = from_contract(original, PRESETS["blender"], fov_x, to_world)
        assert "ViewLayer.Depth.Z" in blender and "mask.Y" not in blender
        i, j = np.argwhere(original["mask.Y"] > 0.5)[0]  # one pixel by hand: Cycles' ray depth, world normal
        n_gl = np.array([original[f"normal.{a}"][i, j] for a in "XYZ"]) * [1, 1, -1]
        np.testing.assert_allclose([blender[f"ViewLayer.Normal.{a}"][i, j] for a in "XYZ"], to_world[:3, :3] @ n_gl,
                                   atol=1e-5)
        h, w = original["depth.Z"].shape
        tan = math.tan(math.radians(fov_x) / 2)
        x, y = (2 * (j + 0.5) / w - 1) * tan, (1 - 2 * (i + 0.5) / h) * tan * h / w
        ray = original["depth.Z"][i, j] * math.sqrt(1 + x * x + y * y)
        assert blender["ViewLayer.Depth.Z"][i, j] == pytest.approx(ray, rel=1e-5)
        write_exr(str(source), {k: v for k, v in blender.items() if k.startswith("ViewLayer.")})
        originals.append(original)
        sources.append(str(source))
    view = ConvertedView(fov_x, ao_radius=0.25, sigma_t=0.5, to_world=tuple(map(tuple, to_world)))
    out = tmp_path / "converted"
    written = convert(sources, str(out), PRESETS["blender"], view)
    for original, path in zip(originals, written):
        got = read_exr(path)
        for name in ("depth.Z", "mask.Y", "normal.X", "normal.Y", "normal.Z", "albedo.R", "R"):
            assert np.abs(got[name] - original[name]).max() < 1e-5, name
    parameters = load_view(written[1])
    assert (parameters.fov_x, parameters.ao_radius, parameters.sigma_t) == (fov_x, 0.25, 0.5)
    assert run_neurender("validate", out, check=True).returncode == 0
    with pytest.raises(InputError, match="already holds a dataset"):
        convert(sources, str(out), PRESETS["blender"], view)


def test_convert_cli_renames_and_refuses_bad_options(pair_dataset, tmp_path):
    exr = pair_dataset / load_records(pair_dataset)[0]["file"]
    original = read_exr(str(exr))
    renamed = {("Z" if k == "depth.Z" else k): v for k, v in original.items() if k != "mask.Y"}
    write_exr(str(tmp_path / "engine.exr"), renamed)
    proc = run_main("convert", tmp_path / "engine.exr", "--out", tmp_path / "data", "--fov-deg", 45,
                    "--rename", "Z=depth.Z", "--ao-radius", 0.3)
    assert proc.returncode == 0 and "follows the contract" in proc.stdout
    got = read_exr(str(tmp_path / "data/converted/000.exr"))
    assert np.array_equal(got["mask.Y"], original["mask.Y"]) and np.array_equal(got["depth.Z"], original["depth.Z"])
    manifest = json.loads((tmp_path / "data/dataset.json").read_text())
    assert manifest["scenes"][0]["ao_radius"] == 0.3 and manifest["scenes"][0]["camera"]["fov_x"] == 45
    rename = ["--rename", "Z=depth.Z"]
    for args, message in ((["--rename", "Z"], "bad rename 'Z'"), (rename + ["--normals", "world"], "need the camera's to_world"),
                          (rename + ["--to-world", "1", "2"], "16 numbers"), ([], "missing channels depth.Z")):
        proc = run_main("convert", tmp_path / "engine.exr", "--out", tmp_path / "other", "--fov-deg", 45, *args)
        lines = error_lines(proc.stderr)
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr


def test_the_shipped_models_can_be_listed(capsys):
    """Issue 50, item 2: the shipped models appeared only inside an error message."""
    from neurender import list_pretrained
    from neurender.base.errors import InputError
    from neurender.commands.cli import main

    every = list_pretrained()
    assert "pretrained:ao-fast" in every and every == sorted(every)
    assert list_pretrained("gi") == [name for name in every if name.startswith("pretrained:gi")]
    with pytest.raises(InputError, match="unknown effect"):
        list_pretrained("sound")
    assert main(["models", "--effect", "ao"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["model", "effect", "family", "reads", "gate", "weights"]
    assert [line.split()[0] for line in lines if line.startswith("pretrained:")] == list_pretrained("ao")
    assert "gtao-half" in next(line for line in lines if line.startswith("pretrained:ao-fast"))


def test_a_prediction_becomes_a_picture(pair_dataset):
    """preview: the prediction tone-mapped as the metrics see it, the uncertainty beside it when there is one."""
    from neurender import preview
    from neurender.base.errors import InputError

    exr = pair_dataset / load_records(pair_dataset)[0]["file"]
    gbuffer, view = load_gbuffer(str(exr)), load_view(str(exr))
    ao = Predictor.from_pretrained("ao-fast")(gbuffer, view)
    picture = preview(ao, "ao")
    assert picture.shape == (*ao["ao.Y"].shape, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[..., 0], np.round(np.clip(ao["ao.Y"], 0, 1) * 255).astype(np.uint8))
    with_spread = preview(ao | {"std.ao.Y": np.linspace(0, 2, ao["ao.Y"].size).reshape(ao["ao.Y"].shape)}, "ao")
    assert with_spread.shape[1] == 2 * picture.shape[1] and with_spread[..., -1, -1, 0] == 255
    with pytest.raises(InputError, match="lacks fog.R"):
        preview(ao, "fog")


def test_what_the_api_used_to_guess_is_refused(pair_dataset):
    """Issue 50, item 5: (H, W, 1) arrays were read as H images of W x 1, and fov=60 raised a raw TypeError."""
    from neurender.base.errors import InputError

    exr = pair_dataset / load_records(pair_dataset)[0]["file"]
    gbuffer, view = load_gbuffer(str(exr)), load_view(str(exr))
    predictor = Predictor.from_pretrained("ao-fast")
    with pytest.raises(InputError, match=r"read as \d+ images of \d+x1"):
        predictor({name: values[..., None] for name, values in gbuffer.items()}, view)
    with pytest.raises(InputError, match="unknown view parameter.*fov.*give fov_x"):
        predictor(gbuffer, view, fov=60)
    assert predictor(gbuffer, view, fov_x=60.0)["ao.Y"].shape == gbuffer["depth.Z"].shape


def test_a_blender_gbuffer_goes_all_the_way_to_a_gi_prediction(pair_dataset, tmp_path):
    """Issue 50, item 6: the blender preset sums Cycles' direct-light passes into direct.R/G/B, so the GI
    predictors run on converted output; predict names what to do with a raw Blender EXR or one without
    the direct light."""
    record = load_records(pair_dataset)[0]
    original = read_exr(str(pair_dataset / record["file"]))
    fov_x, to_world = record["camera"]["fov_x"], np.eye(4)
    blender = {k: v for k, v in from_contract(original, PRESETS["blender"], fov_x, to_world).items()
               if k.startswith("ViewLayer.")}
    rng = np.random.default_rng(0)
    passes = {f"ViewLayer.{p}.{c}": rng.uniform(0.1, 1.0, original["R"].shape).astype(np.float32)
              for p in ("DiffDir", "DiffCol", "Emit") for c in "RGB"}
    write_exr(str(tmp_path / "raw.exr"), blender | passes)
    write_exr(str(tmp_path / "no_direct.exr"), blender)
    view = ["--fov-deg", fov_x, "--to-world", *np.eye(4).ravel(), "--ao-radius", 0.3]
    result = run_main("predict", "--checkpoint", "pretrained:gi-fast", "--input", tmp_path / "raw.exr",
                      "--out", tmp_path / "p0", "--fov-deg", fov_x, "--ao-radius", 0.3)
    assert result.returncode == 2 and "convert --preset blender on it first" in result.stderr, result.stderr
    for name in ("raw", "no_direct"):
        result = run_main("convert", tmp_path / f"{name}.exr", "--out", tmp_path / f"c_{name}", "--preset", "blender",
                          *view)
        assert result.returncode == 0, result.stderr
    converted = read_exr(str(tmp_path / "c_raw" / "converted" / "000.exr"))
    for c in "RGB":
        expected = passes[f"ViewLayer.DiffDir.{c}"] * passes[f"ViewLayer.DiffCol.{c}"] + passes[f"ViewLayer.Emit.{c}"]
        np.testing.assert_allclose(converted[f"direct.{c}"], expected, rtol=1e-6)
    result = run_main("predict", "--checkpoint", "pretrained:gi-fast", "--input", tmp_path / "c_raw", "--out",
                      tmp_path / "p1")
    assert result.returncode == 0 and (tmp_path / "p1" / "converted" / "000.exr").is_file(), result.stderr
    result = run_main("predict", "--checkpoint", "pretrained:gi-fast", "--input", tmp_path / "c_no_direct", "--out",
                      tmp_path / "p2")
    assert result.returncode == 2 and "enable the Diffuse Direct and Diffuse Color passes" in result.stderr
    result = run_main("convert", tmp_path / "raw.exr", "--out", tmp_path / "c3", "--preset", "blender", "--fov-deg", 50)
    assert result.returncode == 2 and "--to-world" in result.stderr
