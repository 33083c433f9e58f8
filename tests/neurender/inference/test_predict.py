"""Prediction at any size: padding to the stride, tiles, an internal resolution."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nr_helpers import VIEW_OPTIONS, error_lines, run_main, run_neurender, synthetic_view

from neurender import space
from neurender.base.exr import read_exr, write_exr
from neurender.inference.predictor import MARGIN, Predictor
from neurender.models.acgan import ACGANConfig
from neurender.models.fast import FastConfig
from neurender.run.config import TrainConfig
from neurender.run.inputs import view_input
from neurender.training.train import train

VIEW = synthetic_view()


@pytest.fixture(scope="module")
def run(pair_dataset, tmp_path_factory) -> str:
    """An AO GAN of stride 16 (depth 4), one training step: its weights are random enough."""
    out = str(tmp_path_factory.mktemp("predict") / "run")
    config = TrainConfig(model="acgan", effect="ao", data=str(pair_dataset), iters=1, batch=1, crop=32,
                         sample_every=1000, checkpoint_every=1,
                         acgan=ACGANConfig(base_channels=8, depth=4, disc_channels=8, disc_layers=2))
    train(config, out, progress=False)
    return out


@pytest.fixture(scope="module")
def fast_run(pair_dataset, tmp_path_factory) -> str:
    """An AO fast run with pooled attention on its context cells (as pretrained:fog-fast), one step."""
    out = str(tmp_path_factory.mktemp("predict_fast") / "run")
    config = TrainConfig(model="fast", effect="ao", inputs="derived", data=str(pair_dataset), iters=1, batch=1,
                         crop=32, sample_every=1000, checkpoint_every=1,
                         fast=FastConfig(channels=8, blocks=1, context_blocks=1, attention_pool=4))
    train(config, out, progress=False)
    return out


def gbuffer(height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear AO inputs (1, 4, H, W) (normals, depth) and mask (1, 1, H, W): smooth random surfaces."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 4, height // 8 + 2, width // 8 + 2, generator=g)
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    normal = F.normalize(torch.cat([smooth[:, :2] - 0.5, smooth[:, 2:3] + 0.5], 1), dim=1)
    depth = 1 + 4 * smooth[:, 3:]
    mask = (depth < 4.5).float()
    return torch.cat([normal, depth], 1) * mask, mask


def test_any_size_is_padded_by_replication_and_cropped_back(run):
    predictor = Predictor(run)
    assert predictor.stride == 16
    inputs, mask = gbuffer(40, 72)
    got = predictor.predict(inputs, mask, VIEW)[0]
    x = view_input(inputs, mask, VIEW, predictor.effect, predictor.config.inputs)
    padded = F.pad(x, (0, 8, 0, 8), mode="replicate")                    # 48x80: multiples of 16
    with torch.no_grad():
        raw = predictor.network(padded)[..., :40, :72]
    expected = predictor.effect.apply_off_mask(space.from_model_space(raw, predictor.effect), mask)
    assert got.shape == (1, 1, 40, 72)
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("name", ["run", "fast_run"])
def test_tiled_prediction_agrees_with_untiled(name, request):
    predictor = Predictor(request.getfixturevalue(name), backend="torch")
    torch.manual_seed(0)
    for p in predictor.network.parameters():  # weights far from their start (zero head, zero attention gate)
        p.data.normal_(0, 0.3)
    inputs, mask = gbuffer(200, 280, seed=1)
    whole = predictor.predict(inputs, mask, VIEW)[0]
    predictor.tile = 2 * MARGIN + 16                                    # cores of 16 px: 13 x 18 tiles
    tiles = predictor.predict(inputs, mask, VIEW)[0]
    assert tiles.shape == whole.shape
    assert float(whole.std()) > 1e-2
    assert (tiles - whole).abs().max() < 1e-3


def test_a_predictor_reused_across_sizes_answers_as_a_fresh_one(fast_run):
    """Its work buffers are kept between calls of one size: nothing of one frame may leak into the next."""
    predictor = Predictor(fast_run, backend="torch")
    frames = [gbuffer(48, 64, seed=3), gbuffer(32, 40, seed=4), gbuffer(48, 64, seed=5)]
    reused = [predictor.predict(inputs, mask, VIEW)[0] for inputs, mask in frames]
    fresh = [Predictor(fast_run, backend="torch").predict(inputs, mask, VIEW)[0] for inputs, mask in frames]
    for a, b in zip(reused, fresh):
        assert torch.equal(a, b)
    assert not torch.equal(reused[0], reused[2])


def test_internal_resolution_predicts_small_and_upsamples(run):
    inputs, mask = gbuffer(96, 128, seed=2)
    predictor = Predictor(run, internal_res=48)
    got = predictor.predict(inputs, mask, VIEW)[0]
    assert got.shape == (1, 1, 96, 128) and torch.isfinite(got).all()
    assert (got[mask.expand_as(got) < 0.5] == 1).all()                     # AO's off-mask value
    small = Predictor(run).predict(*(F.interpolate(t, size=(48, 64), mode="nearest-exact") for t in (inputs, mask)), VIEW)[0]
    assert abs(got.mean() - small.mean()) < 0.05                          # the same answer, upsampled


def test_cli_predicts_a_size_off_the_stride_and_refuses_non_finite_inputs(run, pair_dataset, tmp_path):
    view = read_exr(str(next(pair_dataset.rglob("000.exr"))))
    odd = {k: v[:20, :30] for k, v in view.items()}                       # not multiples of 16
    write_exr(str(tmp_path / "odd.exr"), odd)
    result = run_main("predict", "--checkpoint", run, "--input", tmp_path / "odd.exr", "--out", tmp_path / "o1",
                      *VIEW_OPTIONS)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_exr(str(tmp_path / "o1" / "odd.exr"))["ao.Y"].shape == (20, 30)

    depth = view["depth.Z"].copy()
    depth[3, 4], depth[5, 6] = np.nan, np.inf
    write_exr(str(tmp_path / "nan.exr"), {**view, "depth.Z": depth})
    result = run_main("predict", "--checkpoint", run, "--input", tmp_path / "nan.exr", "--out", tmp_path / "o2",
                      *VIEW_OPTIONS)
    lines = error_lines(result.stderr)
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and "nan.exr" in lines[0] and "depth.Z has 2" in lines[0], lines
    assert not (tmp_path / "o2" / "nan.exr").exists()


def test_bench_predict_prints_time_per_megapixel_and_peak_memory(run, pair_dataset):
    result = run_main("bench", "predict", "--checkpoint", run, "--data", pair_dataset, "--sizes", "16", "24")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[1:2] in (["16x16"], ["24x24"])]
    assert [row[0] for row in rows] == ["run", "run", "gtao", "gtao"], result.stdout
    assert all(float(row[2]) > 0 and float(row[3]) > 0 and float(row[4]) > 100 for row in rows)   # ms, ms/MP, MB
    result = run_main("bench", "predict", "--checkpoint", run, "--data", pair_dataset, "--sizes", "4k")
    assert result.returncode == 2 and "bad size '4k'" in error_lines(result.stderr)[0]


def test_predict_never_writes_over_its_input(run, pair_dataset, tmp_path):
    """--out equal to the input folder, inside it, the folder of an input file, or a dataset: refused
    with one line, exit 2, and every input byte intact."""
    import shutil

    from nr_helpers import snapshot

    data = tmp_path / "data"
    shutil.copytree(pair_dataset, data)
    before = snapshot(data)
    view = next(data.rglob("000.exr"))
    cases = [(data, data), (data, data / "objects_000"), (view, view.parent), (view, data)]
    for source, out in cases:
        result = run_main("predict", "--checkpoint", run, "--input", source, "--out", out)
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and "--out" in lines[0], (source, out, result.stderr)
    assert snapshot(data) == before, "the G-buffers were touched"


def test_a_shipped_export_with_a_bad_input_leaves_nothing(run, tmp_path):
    out = tmp_path / "shipped"
    for extra in (["--notes", tmp_path / "missing.md"], ["--eval", tmp_path / "no_eval"]):
        result = run_main("export", "--checkpoint", run, "--format", "shipped", "--out", out, *extra)
        assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, result.stderr
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_a_shipped_export_cleans_what_a_killed_one_left_and_times_one_small_size(run, tmp_path):
    """Issue 47, item 10: a killed export left .tmp-export-* beside --out for good, and the card timed a
    1080p frame on every export."""
    from neurender.evaluation.shipping import export_shipped

    stale = tmp_path / ".tmp-export-shipped-k1ll3d"
    stale.mkdir()
    (stale / "checkpoint.safetensors").write_bytes(b"half written")
    other = tmp_path / ".tmp-export-other-k1ll3d"  # another output's: not ours to remove
    other.mkdir()
    export_shipped(run, str(tmp_path / "shipped"), [], None, card_sizes=[(32, 48)])
    assert not stale.exists() and other.exists()
    card = (tmp_path / "shipped" / "MODEL_CARD.md").read_text()
    assert "48x32" in card and "1920x1080" not in card


def test_export_never_writes_into_the_run_it_exports(run, tmp_path):
    """Issue 47, item 2: export --out RUN/checkpoint.safetensors replaced the checkpoint with ONNX."""
    from pathlib import Path

    from neurender.base.errors import InputError
    from neurender.commands.learn import ExportCommand, run_export

    before = (Path(run) / "checkpoint.safetensors").read_bytes()
    for command in (ExportCommand(checkpoint=run, out=str(Path(run) / "checkpoint.safetensors"), size="32"),
                    ExportCommand(checkpoint=run, out=run, format="shipped")):
        with pytest.raises(InputError, match="is, lies inside or holds the input"):
            run_export(command)
    assert (Path(run) / "checkpoint.safetensors").read_bytes() == before


def test_a_folder_with_one_bad_exr_writes_nothing(run, pair_dataset, tmp_path):
    views = sorted(pair_dataset.rglob("*.exr"))
    folder = tmp_path / "inputs"
    folder.mkdir()
    for index, view in enumerate(views[:3]):
        channels = read_exr(str(view))
        if index == 2:
            del channels["depth.Z"]  # the last file in name order is the bad one
        write_exr(str(folder / f"{index}.exr"), channels)
    result = run_main("predict", "--checkpoint", run, "--input", folder, "--out", tmp_path / "out", *VIEW_OPTIONS)
    assert result.returncode == 2 and "2.exr lacks channels depth.Z" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_predict_walks_no_link_and_writes_through_none(run, pair_dataset, tmp_path):
    """Issue 47, items 4 and 6: a folder linking to itself (it looped, then wrote 41 nested copies) is
    predicted once per real file; a link inside --out that leaves it is refused and its target untouched."""
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    view = next(pair_dataset.rglob("000.exr"))
    write_exr(str(folder / "sub" / "a.exr"), read_exr(str(view)))
    (folder / "self").symlink_to(folder)
    (folder / "sub" / "up").symlink_to(folder)
    result = run_neurender("predict", "--checkpoint", run, "--input", folder, "--out", tmp_path / "o1",
                           *VIEW_OPTIONS, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(tmp_path / "o1").as_posix() for p in (tmp_path / "o1").rglob("*.exr")) == ["sub/a.exr"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "sub").symlink_to(elsewhere)
    result = run_main("predict", "--checkpoint", run, "--input", folder, "--out", tmp_path / "o2", *VIEW_OPTIONS)
    assert result.returncode == 2 and "through a symbolic link" in error_lines(result.stderr)[0], result.stderr
    assert not list(elsewhere.iterdir())


def test_a_second_model_into_one_prediction_folder_is_refused(run, fast_run, pair_dataset, tmp_path):
    """Issue 47, item 7: two models into one --out both exited 0 and left their files mixed."""
    view = next(pair_dataset.rglob("000.exr"))
    out = tmp_path / "out"
    first = run_main("predict", "--checkpoint", run, "--input", view, "--out", out)
    assert first.returncode == 0, first.stderr
    before = (out / "000.exr").read_bytes()
    other = run_main("predict", "--checkpoint", fast_run, "--input", view, "--out", out)
    lines = error_lines(other.stderr)
    assert other.returncode == 2 and len(lines) == 1 and "holds predictions of" in lines[0], other.stderr
    assert (out / "000.exr").read_bytes() == before


def test_predict_previews_are_the_predictions_for_display(pair_dataset, tmp_path):
    """Issue 50, item 2: --preview writes a PNG beside each EXR, the prediction as the report shows it
    (radiance tone-mapped; the fog-fast model here), so a prediction can be looked at."""
    from PIL import Image

    view = next(pair_dataset.rglob("000.exr"))
    result = run_main("predict", "--checkpoint", "pretrained:fog-fast", "--input", view, "--out", tmp_path / "p",
                      "--preview")
    assert result.returncode == 0 and "with a PNG preview each" in result.stdout, result.stderr
    prediction = read_exr(str(tmp_path / "p" / "000.exr"))
    png = np.asarray(Image.open(tmp_path / "p" / "000.png"))
    rgb = torch.from_numpy(np.stack([prediction[f"fog.{c}"] for c in "RGB"], -1))
    expected = np.round(space.display(rgb, hdr=True).numpy() * 255)
    assert png.shape == (*prediction["fog.R"].shape, 3) and png.dtype == np.uint8
    assert np.abs(png.astype(float) - expected).max() <= 1
    assert len(np.unique(png)) > 8, "an image, not a constant"
