import torch

from neurender.baselines.upsample import joint_bilateral_upsample, nearest_downsample


def _step_scene(size: int, edge: int):
    """A wall at depth 1 (columns < edge) in front of one at depth 3, both facing the camera."""
    depth = torch.ones(1, 1, size, size)
    depth[..., edge:] = 3.0
    normal = torch.zeros(1, 3, size, size)
    normal[:, 2] = 1.0
    return depth, normal


def test_a_depth_step_stays_a_step():
    depth, normal = _step_scene(64, edge=27)               # the edge falls inside a low-resolution pixel
    low_depth, low_normal = nearest_downsample(depth, (16, 16)), nearest_downsample(normal, (16, 16))
    low = (low_depth > 2).float()                          # 0 on the near wall, 1 on the far one
    up = joint_bilateral_upsample(low, low_depth, low_normal, depth, normal)
    expected = (depth > 2).float()
    assert up.shape == (1, 1, 64, 64)
    assert (up - expected).abs().max() < 1e-3
    blurred = torch.nn.functional.interpolate(low, size=(64, 64), mode="bilinear", align_corners=False)
    assert (blurred - expected).abs().max() > 0.2          # what an unguided upsampling does


def test_background_stays_background_and_smooth_values_stay_smooth():
    depth, normal = _step_scene(32, edge=32)
    depth[..., :, 20:], normal[..., :, 20:] = 0.0, 0.0    # no surface right of column 20
    low_depth, low_normal = nearest_downsample(depth, (8, 8)), nearest_downsample(normal, (8, 8))
    ramp = torch.linspace(0, 1, 8).expand(1, 1, 8, 8).clone()
    low = torch.where(low_depth > 0, ramp, torch.full_like(ramp, 5.0))
    up = joint_bilateral_upsample(low, low_depth, low_normal, depth, normal)
    assert torch.allclose(up[..., 20:], torch.full_like(up[..., 20:], 5.0), atol=1e-3)
    assert up[..., :18].min() >= 0 and up[..., :18].max() <= 1
    assert (up[..., 1:, :18] - up[..., :-1, :18]).abs().max() < 1e-3    # the ramp runs along x only


def test_point_sampling_by_an_integer_factor_is_interpolate_nearest_exact():
    """The strided copy taken where the size divides exactly equals ``interpolate``'s "nearest-exact"
    (sizes that divide by 2 and 3, and ones that do not)."""
    x = torch.rand(2, 3, 12, 18)
    for size in ((6, 9), (4, 6), (5, 7), (6, 6)):
        expected = torch.nn.functional.interpolate(x, size=size, mode="nearest-exact")
        assert torch.equal(nearest_downsample(x, size), expected), size
