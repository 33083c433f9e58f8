"""Temporal metrics: exact reprojection between frames, disocclusions, tWE and flicker; camera paths."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from nr_helpers import REPO, error_lines, load_manifest, load_records, read_view, run_neurender
from PIL import Image

from neurender.base.camera import Camera, look_at
from neurender.evaluation import temporal
from neurender.inference.temporal import TemporalBlend, reprojection

SIZE, FOV, PLANE_Z = 32, 60.0, 5.0


def _camera(origin) -> Camera:
    matrix = look_at(origin, np.asarray(origin) + [0, 0, 1], [0, 1, 0])  # forward +Z, left +X: right is -X
    return Camera(FOV, tuple(map(tuple, matrix.tolist())), SIZE, SIZE)


def _plane(z=PLANE_Z):
    return torch.full((1, 1, SIZE, SIZE), float(z)), torch.ones(1, 1, SIZE, SIZE)


def test_a_sideways_move_maps_each_pixel_where_the_hand_computation_puts_it():
    depth, mask = _plane()
    previous, current = _camera([0, 0, 0]), _camera([-0.5, 0, 0])  # 0.5 to the right (world -X)
    warp = reprojection(depth, mask, current, depth, mask, previous)
    columns = torch.arange(SIZE, dtype=torch.float32) + 0.5
    ramp = columns.expand(1, 1, SIZE, SIZE).contiguous()  # frame t-1's value: its pixel x coordinate
    # camera-space x' = x + 0.5 at z = 5: px' = px + 0.5 * (W / 2) / (z tan(fov / 2))
    shift = 0.5 * (SIZE / 2) / (PLANE_Z * math.tan(math.radians(FOV) / 2))
    expected = (columns + shift).expand(1, 1, SIZE, SIZE)
    valid = warp.valid
    assert valid[..., : SIZE - math.ceil(shift) - 1].all() and not valid[..., -math.ceil(shift):].any()
    torch.testing.assert_close(warp(ramp)[valid], expected[valid], atol=1e-4, rtol=0)


def test_a_disocclusion_and_the_background_are_masked():
    depth, mask = _plane()
    depth_previous = depth.clone()
    depth_previous[..., 8:16, 8:16] = 2.0  # an occluder in frame t-1 that is gone in frame t
    mask_previous = mask.clone()
    mask_previous[..., :, :4] = 0  # no surface there in frame t-1
    camera = _camera([0, 0, 0])
    valid = reprojection(depth, mask, camera, depth_previous, mask_previous, camera).valid[0, 0]
    assert not valid[8:16, 8:16].any() and not valid[:, :4].any()
    assert valid[20:, 20:].all()


def test_twe_is_zero_for_the_reference_and_matches_independent_noise():
    depth, mask = _plane()
    camera = _camera([0, 0, 0])
    warp = reprojection(depth, mask, camera, depth, mask, camera)
    generator = torch.Generator().manual_seed(0)
    frames = [torch.rand(1, 3, SIZE, SIZE, generator=generator) for _ in range(6)]
    exact = [temporal.temporal_errors(r, q, r, q, warp) for q, r in zip(frames, frames[1:])]
    assert temporal.summarise(exact)["twe"] == 0.0
    sigma = 0.05
    noisy = [f + sigma * torch.randn(f.shape, generator=generator) for f in frames]
    errors = [temporal.temporal_errors(p, pq, r, q, warp) for pq, p, q, r in zip(noisy, noisy[1:], frames, frames[1:])]
    figures = temporal.summarise(errors)
    assert figures["twe"] == pytest.approx(2 * sigma / math.sqrt(math.pi), rel=0.05)
    assert figures["flicker"] == pytest.approx(sigma, rel=0.05)
    assert figures["samples"] == 5 * 3 * SIZE * SIZE


def test_the_blend_keeps_a_still_sequence_and_averages_independent_noise_away():
    depth, mask = _plane()
    camera = _camera([0, 0, 0])
    truth = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    blend = TemporalBlend(1.0)
    assert all(torch.equal(blend(truth, depth, mask, camera), truth) for _ in range(3))
    blend, generator, sigma, weight = TemporalBlend(0.25), torch.Generator().manual_seed(2), 0.1, 0.25
    assert torch.equal(blend(truth, depth, mask, camera), truth)
    assert torch.allclose(blend(truth, depth, mask, camera), truth, atol=1e-5)  # an unchanged frame stays (float32)
    errors = [blend(truth + sigma * torch.randn(truth.shape, generator=generator), depth, mask, camera) - truth
              for _ in range(40)]
    # an exponential moving average of independent noise: variance w / (2 - w) of the noise's
    steady = torch.stack(errors[20:]).std()
    assert float(steady) == pytest.approx(sigma * math.sqrt(weight / (2 - weight)), rel=0.1)


def test_the_blend_restarts_at_disocclusions_a_reset_and_a_new_size():
    depth, mask = _plane()
    camera = _camera([0, 0, 0])
    blend = TemporalBlend(0.5)
    blend(torch.zeros(1, 1, SIZE, SIZE), depth, mask, camera)
    depth_now = depth.clone()
    depth_now[..., 8:16, 8:16] = 2.0  # an object in front that was not there
    out = blend(torch.ones(1, 1, SIZE, SIZE), depth_now, mask, camera)
    assert (out[..., 8:16, 8:16] == 1).all() and (out[..., 20:, 20:] == 0.5).all()
    blend.reset()
    assert (blend(torch.ones(1, 1, SIZE, SIZE), depth, mask, camera) == 1).all()
    small_depth, small_mask = depth[..., :8, :8], mask[..., :8, :8]
    small = torch.zeros(1, 1, 8, 8)
    assert torch.equal(blend(small, small_depth, small_mask, Camera(FOV, camera.to_world, 8, 8)), small)
    with pytest.raises(ValueError, match="weight"):
        TemporalBlend(0.0)


def test_a_bad_depth_shape_is_refused():
    camera = _camera([0, 0, 0])
    depth, mask = _plane()
    with pytest.raises(ValueError, match="depth_previous must have shape"):
        reprojection(depth, mask, camera, depth[..., :8], mask, camera)


def test_an_orbit_path_has_its_frames_in_order_and_reprojects_the_renders(tmp_path):
    """End to end on real renders: frame t-1's albedo warped into frame t matches frame t better than unwarped."""
    out = tmp_path / "path"
    run_neurender("generate", "objects", "--out", out, "--path", "orbit", "--views", "3", "--step-deg", "2",
                  "--res", "64", "--spp", "1", "--spp-gbuffer", "16", "--workers", "1",
                  "--elevation-deg", "10:40", check=True)
    records = sorted(load_records(out), key=lambda r: r["view"])
    assert [r["sequence"] for r in records] == [{"path": "orbit", "frame": k} for k in range(3)]
    assert len({r["seed"] for r in records}) == 3  # each frame its own noise
    cameras = [Camera.from_json(r["camera"]) for r in records]
    assert len({c.fov_x for c in cameras}) == 1  # the rig is drawn once for the path
    forward = [c.matrix[:3, 2] for c in cameras]
    turn = math.degrees(math.acos(np.clip(forward[0] @ forward[1], -1, 1)))
    assert 0.5 < turn <= 2.0 + 1e-6
    assert run_neurender("validate", out).returncode == 0
    scene = records[0]["scene"]
    frames = [read_view(out, scene, k) for k in (0, 1)]
    image = {name: [torch.from_numpy(np.ascontiguousarray(f[name]))[None, None] for f in frames]
             for name in ("depth.Z", "mask.Y", "albedo.R")}
    warp = reprojection(image["depth.Z"][1], image["mask.Y"][1], cameras[1],
                                 image["depth.Z"][0], image["mask.Y"][0], cameras[0])
    valid = warp.valid
    assert valid.float().mean() > 0.2
    albedo_previous, albedo = image["albedo.R"]
    warped_error = (warp(albedo_previous) - albedo)[valid].abs().mean()
    still_error = (albedo_previous - albedo)[valid].abs().mean()
    assert warped_error < 0.3 * still_error, (warped_error, still_error)


def test_a_dolly_path_moves_towards_the_pivot(tmp_path):
    out = tmp_path / "dolly"
    run_neurender("generate", "studio", "--out", out, "--path", "dolly", "--views", "3", "--dolly-step", "0.05",
                  "--res", "8", "--spp", "1", "--spp-ao", "1", "--spp-gbuffer", "1", "--workers", "1", check=True)
    records = sorted(load_records(out), key=lambda r: r["view"])
    pivot = np.asarray(load_manifest(out)["scenes"][0]["pivot"])
    distances = [np.linalg.norm(Camera.from_json(r["camera"]).origin - pivot) for r in records]
    np.testing.assert_allclose(np.array(distances) / distances[0], [1.0, 0.95, 0.90], atol=1e-6)


@pytest.mark.parametrize("flags, needle", [
    (["--path", "spiral"], "--path"),
    (["--path", "dolly", "--dolly-step", "0.5", "--views", "4"], "--dolly-step"),
    (["--path", "orbit", "--xml-sensors"], "--xml-sensors"),
])
def test_bad_path_options_exit_2_with_one_line(tmp_path, flags, needle):
    proc = run_neurender("generate", "objects", "--out", tmp_path / "data", *flags)
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr
    assert not (tmp_path / "data").exists()


def test_a_bad_blend_weight_exits_2_with_one_line(tmp_path):
    proc = run_neurender("evaluate", "--data", tmp_path / "none", "--effect", "ao", "--method", "gtao",
                         "--out", tmp_path / "eval", "--temporal-blend", "0.2", "1.5")
    lines = error_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and "--temporal-blend" in lines[0] and "1.5" in lines[0], proc.stderr
    assert not (tmp_path / "eval").exists()


def test_evaluate_on_a_path_gives_every_method_and_level_its_temporal_error(tmp_path):
    data, evaluation = tmp_path / "path", tmp_path / "eval"
    run_neurender("generate", "objects", "--out", data, "--path", "orbit", "--views", "3", "--step-deg", "1",
                  "--res", "24", "--spp", "8", "--workers", "1", check=True)
    run_neurender("evaluate", "--data", data, "--effect", "ao", "--method", "gtao", "--out", evaluation,
                  "--temporal-blend", "0.3", check=True)
    summary = json.loads((evaluation / "summary.json").read_text())
    assert summary["temporal"]["frame_pairs"] == 2
    assert summary["methods"]["gtao"]["temporal"]["twe"] > 0
    blended = summary["methods"]["gtao + blend 0.3"]
    # gtao is deterministic; the blend smooths its screen-fixed noise (the 8-spp reference's own stays)
    assert 0 < blended["temporal"]["twe"] < summary["methods"]["gtao"]["temporal"]["twe"]
    raw = [p["temporal"]["twe"] for p in summary["path_tracer"]["curve"]]
    assert raw[0] > raw[-1]  # more samples, less noise from frame to frame
    denoised = summary["pt_oidn"]["curve"][0]["temporal"]["twe"]
    assert denoised < raw[0]  # the denoiser removes most of 1 spp's flicker
    assert summary["noise_floor"]["temporal"]["twe"] == raw[-1]
    scene = load_records(data)[0]["scene"]
    assert f"grids/frames_{scene}.png" in summary["grids"]
    assert Image.open(evaluation / "grids" / f"frames_{scene}.png").size[1] > 2 * 128  # reference and gtao rows
    run_neurender("report", evaluation, "--out", tmp_path / "report", check=True)
    table = (tmp_path / "report" / "report.md").read_text()
    assert "tWE" in table and f"{summary['methods']['gtao']['temporal']['twe']:.4f}" in table
    section = (REPO / "docs" / "evaluation.md").read_text().split("## summary.json")[1]
    documented = ("temporal", "twe", "flicker", "samples", "frame_pairs", "depth_tolerance")
    assert all(f"`{key}`" in section for key in documented)
