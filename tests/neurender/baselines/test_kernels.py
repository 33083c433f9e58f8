"""The compiled screen-space kernels (neurender.baselines.kernels) against their torch references, on
rendered G-buffers: the same answer within 1e-3 mean absolute difference, at any size, batch and option."""
import math

import pytest
import torch

from neurender import effects
from neurender.baselines import kernels
from neurender.baselines.fog import fog as reference_fog
from neurender.baselines.gtao import gtao as reference_gtao
from neurender.baselines.hbao import hbao as reference_hbao
from neurender.baselines.methods import METHODS, reduced_resolution
from neurender.baselines.ssao import ssao as reference_ssao
from neurender.baselines.upsample import joint_bilateral_upsample, nearest_downsample
from neurender.data import GBufferDataset

AO, FOG = effects.get("ao"), effects.get("fog")
PAIRS = [  # (kernel, reference, options)
    (kernels.gtao, reference_gtao, {}),
    (kernels.gtao, reference_gtao, {"slices": 2, "steps": 3, "falloff": 0.5, "seed": 7}),
    (kernels.hbao, reference_hbao, {}),
    (kernels.hbao, reference_hbao, {"directions": 3, "steps": 5, "seed": 2}),
    (kernels.ssao, reference_ssao, {}),
    (kernels.ssao, reference_ssao, {"samples": 5, "bias": 0.1, "seed": 3}),
]


@pytest.fixture(scope="module")
def views(pair_dataset):
    """Every view of the pair dataset as a batch: depth, normal, mask, and one view's fov and AO radius."""
    data = GBufferDataset(str(pair_dataset), "ao")
    items = [data[i] for i in range(len(data))]
    x = torch.stack([item["input"] for item in items])
    view = items[0]["parameters"]
    return (AO.pick(x, effects.DEPTH), AO.pick(x, effects.NORMAL), torch.stack([item["mask"] for item in items]),
            view.fov_x, view.ao_radius)


@pytest.mark.parametrize("kernel, reference, options", PAIRS)
def test_kernels_match_their_references(views, kernel, reference, options):
    depth, normal, mask, fov, radius = views
    for crop in (slice(None), slice(3, 30)):  # whole views and an odd, non-square crop (a partial tile)
        args = (depth[..., crop, 1:], normal[..., crop, 1:], mask[..., crop, 1:], fov, radius)
        expected, got = reference(*args, **options), kernel(*args, **options)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert (got - expected).abs().mean() < 1e-3
        assert 0.01 < (1 - expected[mask[..., crop, 1:] > 0.5]).mean() < 0.95  # the views hold occlusion
        assert torch.equal(got[mask[..., crop, 1:] <= 0.5], torch.ones_like(got[mask[..., crop, 1:] <= 0.5]))


def test_one_image_is_the_same_alone_and_in_a_batch(views):
    depth, normal, mask, fov, radius = views
    batched = kernels.gtao(depth, normal, mask, fov, radius)
    assert torch.equal(kernels.gtao(depth[1:2], normal[1:2], mask[1:2], fov, radius), batched[1:2])


def test_float64_in_float64_out(views):
    depth, normal, mask, fov, radius = (t.double() if isinstance(t, torch.Tensor) else t for t in views)
    out = kernels.hbao(depth, normal, mask, fov, radius)
    assert out.dtype == torch.float64
    assert (out - reference_hbao(depth, normal, mask, fov, radius)).abs().mean() < 1e-3


def test_without_a_backend_the_reference_runs(views):
    depth, normal, mask, fov, radius = views
    with kernels.torch_references():
        assert kernels.backend("cpu") is None
        assert torch.equal(kernels.gtao(depth, normal, mask, fov, radius), reference_gtao(depth, normal, mask, fov, radius))
    assert kernels.backend("cpu") is kernels._backend("cpu")  # restored


def test_kernels_check_their_options(views):
    depth, normal, mask, fov, radius = views
    with pytest.raises(ValueError, match="slices"):
        kernels.gtao(depth, normal, mask, fov, radius, slices=0)
    with pytest.raises(ValueError, match="bias"):
        kernels.ssao(depth, normal, mask, fov, radius, bias=-1)
    with pytest.raises(ValueError, match="fov_x_deg"):
        kernels.hbao(depth, normal, mask, 180.0, radius)


def test_upsample_kernel_matches_its_reference(views):
    depth, normal, mask, _, _ = views
    full = torch.cat([depth, normal], 1) * mask
    for size in ((16, 16), (11, 7)):
        low = nearest_downsample(full, size)
        values = torch.rand(depth.shape[0], 3, *size, generator=torch.Generator().manual_seed(0))
        args = (values, low[:, :1], low[:, 1:], full[:, :1], full[:, 1:])
        assert (kernels.joint_bilateral_upsample(*args) - joint_bilateral_upsample(*args)).abs().mean() < 1e-3
        raw = torch.cat([depth, normal], 1) + 5 * (mask <= 0.5)  # guides off the mask: ignored with the mask
        masked = kernels.joint_bilateral_upsample(*args[:3], raw[:, :1], raw[:, 1:], mask)
        assert (masked - joint_bilateral_upsample(*args)).abs().mean() < 1e-3
    many = torch.rand(depth.shape[0], 5, *size)  # more channels than a packet holds: the reference runs
    args = (many, low[:, :1], low[:, 1:], full[:, :1], full[:, 1:])
    assert torch.equal(kernels.joint_bilateral_upsample(*args), joint_bilateral_upsample(*args))


def test_half_resolution_gtao_is_close_to_full_resolution(pair_dataset):
    data = GBufferDataset(str(pair_dataset), "ao")
    item = data[0]
    x, mask = item["input"][None], item["mask"][None]
    full, half = (METHODS[name](x, mask, item["parameters"], AO) for name in ("gtao", "gtao-half"))
    assert half.shape == full.shape
    assert torch.equal(half[mask <= 0.5], torch.ones_like(half[mask <= 0.5]))
    on = mask > 0.5
    assert (half - full)[on].abs().mean() < 0.1
    assert (half - full)[on].abs().mean() < (full[on] - full[on].mean()).abs().mean()  # better than a constant


def test_reduced_resolution_refuses_a_divisor_below_two():
    for divisor in (0, 1):
        with pytest.raises(ValueError, match="divisor must be at least 2"):
            reduced_resolution(METHODS["gtao"], divisor)


def test_fog_kernel_matches_its_reference(pair_dataset):
    data = GBufferDataset(str(pair_dataset), "fog")
    items = [data[i] for i in range(len(data))]
    x, mask = torch.stack([item["input"] for item in items]), torch.stack([item["mask"] for item in items])
    crop = (..., slice(3, 30), slice(1, None))  # odd and not square
    rgb, depth, mask = FOG.pick(x, effects.RGB)[crop], FOG.pick(x, effects.DEPTH)[crop], mask[crop]
    fov, batch = items[0]["parameters"].fov_x, x.shape[0]
    assert 0 < (mask > 0.5).float().mean() < 1  # surfaces and background
    for sigma, airlight, distance in ((0.3, 1.0, math.inf), (0.0, 0.5, math.inf),
                                      (torch.linspace(0, 0.5, batch), torch.rand(batch, 3), 20.0)):
        expected = reference_fog(rgb, depth, mask, fov, sigma, airlight, background_distance=distance)
        for dtype in (torch.float32, torch.float64):
            got = kernels.fog(rgb.to(dtype), depth.to(dtype), mask, fov, sigma, airlight, background_distance=distance)
            assert got.shape == expected.shape and got.dtype == dtype
            assert (got - expected).abs().max() < 1e-5
    with pytest.raises(ValueError, match="sigma_t must be >= 0"):
        kernels.fog(rgb, depth, mask, fov, -1.0)


def test_lane_indices_are_exact_past_float32s_integers():
    """Pixel i W + j -> (i, j) of lanes in row order stays exact beyond 2^24 pixels (4096 x 4096 and up), where
    float32 is not."""
    jit = kernels.backend("cpu")
    if jit is None:
        pytest.skip("Dr.Jit has no LLVM backend here")
    values = [0, 1, 2**24 - 1, 2**24, 2**24 + 1, 2**24 + 7681, 8191 * 7681 + 7680, 2**31 - 1]
    for divisor in (1, 3, 7681, 65536):
        quotient, remainder = kernels._divmod(jit.Int32(values), divisor)
        assert list(quotient) == [v // divisor for v in values] and list(remainder) == [v % divisor for v in values]
