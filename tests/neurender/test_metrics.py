import math

import kornia
import pytest
import torch

from neurender.metrics import PSNR_CAP, flip, flip_map, mae, psnr, ssim, ssim_map


def _images(batch=2, channels=3, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return 0.2 + 0.5 * torch.rand((batch, channels, size, size), generator=generator)


def test_identical_images():
    x = _images()
    assert torch.equal(psnr(x, x), torch.full((2,), PSNR_CAP))  # capped, finite
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert torch.equal(mae(x, x), torch.zeros(2))
    assert torch.equal(flip(x, x), torch.zeros(2))


def test_constant_offset_gives_exact_psnr_and_mae():
    target = _images()
    for offset in (0.1, 0.05):
        pred = target + offset
        expected = 10 * math.log10(1 / offset**2)
        assert torch.allclose(psnr(pred, target), torch.full((2,), expected), atol=1e-3)
        assert torch.allclose(mae(pred, target), torch.full((2,), offset), atol=1e-6)
    pred = target * 255 + 5.0
    assert torch.allclose(psnr(pred, target * 255, data_range=255.0),
                          torch.full((2,), 10 * math.log10(255.0**2 / 25.0)), atol=1e-3)


def test_per_image_values():
    target = _images()
    pred = target.clone()
    pred[1] += 0.1
    assert psnr(pred, target)[0] == PSNR_CAP and psnr(pred, target)[1] < PSNR_CAP
    assert mae(pred, target)[0] == 0 and mae(pred, target)[1] > 0
    assert flip(pred, target).shape == (2,)


def test_ssim_matches_kornia():
    pred, target = _images(seed=1), _images(seed=2)
    for window in (5, 11):
        expected = kornia.metrics.ssim(pred, target, window, max_val=1.0).mean(dim=(1, 2, 3))
        assert torch.allclose(ssim(pred, target, window=window), expected)
    assert (ssim(pred, target) < 0.9).all()


def test_flip_of_different_images_is_large():
    black, white = torch.zeros(1, 3, 32, 32), torch.ones(1, 3, 32, 32)
    assert flip(black, white).item() > 0.5
    noisy = _images(batch=1, seed=3)
    assert 0.0 < flip(noisy, _images(batch=1, seed=4)).item() < flip(black, white).item()


def test_flip_gray_is_replicated_and_clamped():
    pred, target = _images(channels=1, seed=5), _images(channels=1, seed=6)
    gray = flip(pred, target)
    assert torch.allclose(gray, flip(pred.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)))
    assert torch.equal(flip(pred + 2.0, target + 3.0), torch.zeros(2))  # both clamp to white


@pytest.mark.parametrize("metric", [psnr, ssim, mae, flip])
def test_bad_shapes_raise(metric):
    x = _images()
    with pytest.raises(ValueError):
        metric(x, x[:, :, :16])
    with pytest.raises(ValueError):
        metric(x[0], x[0])
    with pytest.raises(ValueError):
        metric(x, x.to(torch.int64))


def test_bad_options_raise():
    x = _images()
    with pytest.raises(ValueError):
        flip(x[:, :2], x[:, :2])
    with pytest.raises(ValueError):
        ssim(x, x, window=4)
    with pytest.raises(ValueError):
        ssim(x, x, window=33)
    with pytest.raises(ValueError):
        psnr(x, x, data_range=0.0)


def test_masked_metrics_average_the_per_pixel_maps_over_the_mask():
    pred, target = _images(seed=7), _images(seed=8)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 4:20, 8:30] = 1.0
    on = mask.bool().expand(-1, 3, -1, -1)
    expected_ssim = [ssim_map(pred, target)[i][on[i]].mean() for i in range(2)]
    assert torch.allclose(ssim(pred, target, mask=mask), torch.stack(expected_ssim), atol=1e-6)
    expected_flip = [flip_map(pred, target)[i, 0][mask[i, 0].bool()].mean() for i in range(2)]
    assert torch.allclose(flip(pred, target, mask=mask), torch.stack(expected_flip), atol=1e-6)
    mse = torch.stack([(pred - target)[i][on[i]].square().mean() for i in range(2)])
    assert torch.allclose(psnr(pred, target, mask=mask), 10 * torch.log10(1 / mse), atol=1e-4)
    assert torch.allclose(ssim(target, target, mask=mask), torch.ones(2), atol=1e-6)  # perfect on the mask
    assert torch.isnan(mae(pred, target, mask=torch.zeros_like(mask))).all()  # empty mask: no figure
