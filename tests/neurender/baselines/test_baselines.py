import math

import numpy as np
import pytest
import torch

from neurender.baselines import fog, gtao, hbao, ssao, view_positions
from neurender.baselines.camera import ray_lengths

AO_METHODS = [ssao, hbao, gtao]
FOV = 60.0


def raycast(planes, height, width, fov_x_deg):
    """Depth, normal and mask buffers (1, C, H, W) of planes ``n . p = d`` (camera space),
    by intersecting every pixel ray with every plane (numpy, float64)."""
    tan = math.tan(math.radians(fov_x_deg) / 2)
    rows, cols = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    rays = np.stack([(2 * cols / width - 1) * tan, (1 - 2 * rows / height) * tan * height / width,
                     np.ones_like(rows)], axis=-1)
    depth = np.full((height, width), np.inf)
    normal = np.zeros((height, width, 3))
    for n, d in planes:
        n = np.asarray(n, dtype=np.float64)
        denom = rays @ n
        with np.errstate(divide="ignore"):
            t = np.where(np.abs(denom) > 1e-12, d / denom, np.inf)
        hit = (t > 0) & (t < depth)
        depth[hit] = t[hit]
        normal[hit] = np.where((rays[hit] @ n)[:, None] < 0, n, -n) / np.linalg.norm(n)
    mask = np.isfinite(depth)
    depth[~mask] = 0
    def as_tensor(a):
        return torch.from_numpy(a).float()
    return (as_tensor(depth)[None, None], as_tensor(normal).permute(2, 0, 1)[None],
            as_tensor(mask.astype(np.float64))[None, None])


def corner(size=48):
    """A floor y = -1 meeting a wall z = 4 at a right angle."""
    return raycast([((0.0, 1.0, 0.0), -1.0), ((0.0, 0.0, 1.0), 4.0)], size, size, FOV)


def test_view_positions_follow_the_camera_model():
    depth = torch.full((2, 1, 4, 6), 2.0)
    positions = view_positions(depth, 90.0)
    assert positions.shape == (2, 3, 4, 6)
    # pixel (row 0, col 5): x = 2 * 5.5 / 6 - 1, y = 1 - 2 * 0.5 / 4, tan(45 deg) = 1
    expected = torch.tensor([2 * (11 / 6 - 1), 2 * 0.75 * 4 / 6, 2.0])
    assert torch.allclose(positions[1, :, 0, 5], expected)
    with pytest.raises(ValueError):
        view_positions(depth[:, 0], 90.0)
    with pytest.raises(ValueError):
        view_positions(depth, 180.0)


def test_ray_lengths_are_the_norms_of_the_view_positions():
    depth = 1 + torch.rand((2, 1, 5, 7), generator=torch.Generator().manual_seed(0))
    expected = view_positions(depth, 70.0).norm(dim=1, keepdim=True)
    assert torch.allclose(ray_lengths(depth, 70.0), expected, rtol=1e-6)
    with pytest.raises(ValueError):
        ray_lengths(depth[:, 0], 70.0)


@pytest.mark.parametrize("method", AO_METHODS)
def test_flat_plane_is_unoccluded(method):
    depth, normal, mask = raycast([((0.0, 0.5, -1.0), -3.0)], 32, 40, FOV)  # tilted, covers the view
    assert mask.all()
    ao = method(depth, normal, mask, FOV, 0.5)
    assert ao.shape == (1, 1, 32, 40)
    assert ao.mean() > 0.95 and ao.min() > 0.9


@pytest.mark.parametrize("method", AO_METHODS)
def test_corner_is_occluded_near_the_crease(method):
    depth, normal, mask = corner()
    ao = method(depth, normal, mask, FOV, 0.5)
    positions = view_positions(depth, FOV)
    to_crease = torch.hypot(positions[:, 1:2] + 1, positions[:, 2:3] - 4)
    near, far = ao[to_crease < 0.15].mean(), ao[to_crease > 0.8].mean()
    assert far > 0.95
    assert near < 0.85 and near < far - 0.15
    assert ((ao >= 0) & (ao <= 1)).all()


def test_gtao_matches_ray_traced_ao_of_a_corner():
    """On the floor at distance x from the wall, cosine-weighted rays of length R are blocked
    when they head for the wall (dz > 0) and reach it (x / dz < R); Monte Carlo reference."""
    depth, normal, mask = corner(64)
    ao = gtao(depth, normal, mask, FOV, 0.5)[0, 0]
    u = np.random.default_rng(0).random((20000, 2))
    dz = np.sqrt(u[:, 0]) * np.sin(2 * np.pi * u[:, 1])
    distance_to_wall = (4 - view_positions(depth, FOV)[0, 2]).numpy()
    floor = (normal[0, 1] > 0.5).numpy() & (distance_to_wall > 0.1) & (distance_to_wall < 0.3)
    reference = [np.mean((dz <= 0) | (x / np.maximum(dz, 1e-12) >= 0.5)) for x in distance_to_wall[floor]]
    assert abs(ao.numpy()[floor].mean() - np.mean(reference)) < 0.05


@pytest.mark.parametrize("method", AO_METHODS)
def test_background_deterministic_batched(method):
    depth, normal, mask = raycast([((0.0, 1.0, 0.0), -1.0)], 32, 32, FOV)  # floor, sky above
    assert 0 < mask.mean() < 1
    depth2, normal2, mask2 = corner(32)
    batch = [torch.cat(pair) for pair in ((depth, depth2), (normal, normal2), (mask, mask2))]
    ao = method(*batch, FOV, 0.5)
    assert torch.equal(ao, method(*batch, FOV, 0.5))
    assert torch.allclose(ao[:1], method(depth, normal, mask, FOV, 0.5), atol=1e-4)
    assert torch.allclose(ao[1:], method(depth2, normal2, mask2, FOV, 0.5), atol=1e-4)
    assert (ao[:1][mask == 0] == 1).all()
    ao64 = method(*(t.double() for t in batch), FOV, 0.5)
    assert ao64.dtype == torch.float64 and torch.allclose(ao64.float(), ao, atol=1e-3)


@pytest.mark.parametrize("method", AO_METHODS)
def test_ao_bad_inputs_raise(method):
    depth, normal, mask = corner(16)
    with pytest.raises(ValueError):
        method(depth[:, 0], normal, mask, FOV, 0.5)
    with pytest.raises(ValueError):
        method(depth, normal[:, :2], mask, FOV, 0.5)
    with pytest.raises(ValueError):
        method(depth, normal, mask[..., :8], FOV, 0.5)
    with pytest.raises(ValueError):
        method(depth, normal, mask, FOV, 0.0)
    with pytest.raises(ValueError):
        method(depth, normal, mask, 0.0, 0.5)


def test_ao_bad_counts_raise():
    depth, normal, mask = corner(16)
    with pytest.raises(ValueError):
        ssao(depth, normal, mask, FOV, 0.5, samples=0)
    with pytest.raises(ValueError):
        hbao(depth, normal, mask, FOV, 0.5, directions=0)
    with pytest.raises(ValueError):
        gtao(depth, normal, mask, FOV, 0.5, steps=0)
    with pytest.raises(ValueError):
        gtao(depth, normal, mask, FOV, 0.5, falloff=1.5)


def _fog_inputs():
    depth, _, mask = raycast([((0.0, 1.0, 0.0), -1.0)], 17, 17, FOV)
    rgb = torch.rand((1, 3, 17, 17), generator=torch.Generator().manual_seed(0))
    return rgb, depth, mask


def test_fog_without_extinction_is_identity():
    rgb, depth, mask = _fog_inputs()
    assert torch.equal(fog(rgb, depth, mask, FOV, 0.0, airlight=0.7), rgb)


def test_fog_values():
    rgb, depth, mask = _fog_inputs()
    airlight = torch.tensor([0.2, 0.5, 0.9])
    out = fog(rgb, depth, mask, FOV, 0.3, airlight=airlight)
    # pixel (16, 8) is in the central column: ray length = z-depth * sqrt(1 + (y tan)^2)
    y = (1 - 2 * 16.5 / 17) * math.tan(math.radians(FOV) / 2)
    t = math.exp(-0.3 * depth[0, 0, 16, 8].item() * math.sqrt(1 + y * y))
    assert torch.allclose(out[0, :, 16, 8], rgb[0, :, 16, 8] * t + airlight * (1 - t))
    # off the mask the default background is infinitely far: pure airlight
    assert torch.allclose(out[0][:, mask[0, 0] == 0], airlight[:, None].expand(3, -1))
    out = fog(rgb, depth, mask, FOV, 0.3, airlight=airlight, background_distance=2.0)
    assert torch.allclose(out[0, :, 0, 0], rgb[0, :, 0, 0] * math.exp(-0.6) + airlight * (1 - math.exp(-0.6)))


def test_fog_tends_to_airlight_far_away():
    rgb, depth, mask = _fog_inputs()
    near = fog(rgb, depth, mask, FOV, 0.1, airlight=0.5)
    far = fog(rgb, depth * 1000, mask, FOV, 0.1, airlight=0.5)
    assert torch.allclose(far, torch.full_like(far, 0.5))
    assert ((near - 0.5).abs() > 1e-3).any()


def test_fog_per_image_parameters():
    rgb, depth, mask = _fog_inputs()
    rgb2, depth2, mask2 = (torch.cat([t, t]) for t in (rgb, depth, mask))
    out = fog(rgb2, depth2, mask2, FOV, torch.tensor([0.0, 0.2]), airlight=torch.tensor([[1.0, 1, 1], [0, 0, 0]]))
    assert torch.equal(out[0], rgb[0])
    assert torch.allclose(out[1:], fog(rgb, depth, mask, FOV, 0.2, airlight=0.0))


def test_fog_bad_inputs_raise():
    rgb, depth, mask = _fog_inputs()
    with pytest.raises(ValueError):
        fog(rgb[:, :1], depth, mask, FOV, 0.1)
    with pytest.raises(ValueError):
        fog(rgb, depth[..., :8], mask, FOV, 0.1)
    with pytest.raises(ValueError):
        fog(rgb, depth, mask[:, 0], FOV, 0.1)
    with pytest.raises(ValueError):
        fog(rgb, depth, mask, FOV, -0.1)
    with pytest.raises(ValueError):
        fog(rgb, depth, mask, FOV, 0.1, airlight=torch.ones(2))
    with pytest.raises(ValueError):
        fog(rgb, depth, mask, FOV, 0.1, background_distance=0.0)
