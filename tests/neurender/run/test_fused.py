"""The fused kernels give what their torch references give: a view's network input (the G-buffer in model
space, the derived channels, the guess) and a network output back to linear values."""
from __future__ import annotations

import math

import pytest
import torch

from neurender import effects, space
from neurender.base.view import ViewParameters
from neurender.baselines import kernels
from neurender.run import fused
from neurender.run.inputs import DERIVED, INPUT_KINDS, channels, view_input

JIT = kernels.backend("cpu")
pytestmark = pytest.mark.skipif(JIT is None, reason="Dr.Jit has no LLVM backend here")


def gbuffer(effect, batch: int = 2, height: int = 23, width: int = 37, dtype=torch.float32):
    """Linear inputs of ``effect`` (HDR radiance with negatives and highlights, albedo past [0, 1], depth
    0.5-10.5) and a mask with background (0) and partial (0.3) pixels."""
    generator = torch.Generator().manual_seed(3)
    inputs = torch.rand(batch, len(effect.inputs), height, width, generator=generator, dtype=dtype) * 3 - 0.5
    normal = effect.index(effects.NORMAL)
    inputs[:, normal] = torch.nn.functional.normalize(inputs[:, normal] - 1, dim=1)
    depth = effect.inputs.index(effects.DEPTH[0])
    inputs[:, depth] = 0.5 + 10 * torch.rand(batch, height, width, generator=generator, dtype=dtype)
    mask = (torch.rand(batch, 1, height, width, generator=generator) > 0.2).to(dtype)
    mask[:, :, 0, :5] = 0.3
    return inputs, mask


VIEWS = [ViewParameters(fov_x=60.0, ao_radius=0.7, sigma_t=0.2),
         ViewParameters(fov_x=35.0, ao_radius=3.0, sigma_t=0.0),
         ViewParameters(fov_x=80.0, ao_radius=0.1, sigma_t=1.5, background_distance=12.0)]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", ["ao", "fog", "gi"])
def test_network_input_matches_its_reference(name, view):
    effect = effects.get(name)
    inputs, mask = gbuffer(effect)
    guess = torch.rand(2, len(effect.targets), *mask.shape[-2:]) * 4 - 1  # past both ends of every range
    reference = torch.cat([space.network_input(inputs, mask, effect),
                           *(DERIVED[n](inputs, mask, view, effect) for n in effect.derived),
                           space.target_to_model_space(guess, effect)], 1)
    got = fused.network_input(JIT, inputs, mask, effect, effect.derived, view, guess)
    assert got.shape == reference.shape and got.dtype == inputs.dtype
    assert torch.isfinite(got).all()
    assert (got - reference).abs().max() < 1e-5


@pytest.mark.parametrize("kind", sorted(INPUT_KINDS))
@pytest.mark.parametrize("name", ["ao", "fog", "gi"])
def test_view_input_lays_out_the_channels_the_run_reads(name, kind):
    effect = effects.get(name)
    inputs, mask = gbuffer(effect, dtype=torch.float64)
    view = VIEWS[0]
    got = view_input(inputs, mask, view, effect, kind)
    with kernels.torch_references():
        reference = view_input(inputs, mask, view, effect, kind)
    assert got.shape == reference.shape == (2, len(channels(effect, kind)), *mask.shape[-2:])
    assert got.dtype == torch.float64
    gbuffer_channels = len(effect.network_inputs) + (len(effect.derived) if INPUT_KINDS[kind].reads_view else 0)
    assert (got[:, :gbuffer_channels] - reference[:, :gbuffer_channels]).abs().max() < 1e-5
    # the guess: the classic kernel against its torch reference (the classic kernels' tests: 1e-3 on average)
    assert (got[:, gbuffer_channels:] - reference[:, gbuffer_channels:]).abs().mean().nan_to_num(0) < 1e-3


def test_an_infinite_optical_depth_is_one_and_no_fog_is_none():
    fog = effects.get("fog")
    inputs, mask = gbuffer(fog, batch=1)
    got = fused.network_input(JIT, inputs, mask, fog, fog.derived, ViewParameters(fov_x=60.0, sigma_t=0.5))
    optical_depth, transmittance = got[0, -2], got[0, -1]
    background = mask[0, 0] <= 0.5
    assert (optical_depth[background] == 1).all() and (transmittance[background] == -1).all()
    none = fused.network_input(JIT, inputs, mask, fog, fog.derived, ViewParameters(fov_x=60.0, sigma_t=0.0))
    assert (none[0, -2] == -1).all() and (none[0, -1] == 1).all()  # tau = 0 everywhere
    assert math.isclose(float(got[0, -2][~background].max()), float(DERIVED["optical_depth"](
        inputs, mask, ViewParameters(fov_x=60.0, sigma_t=0.5), fog)[0, 0][~background].max()), rel_tol=1e-6)


@pytest.mark.parametrize("with_light", [False, True])
@pytest.mark.parametrize("name", ["ao", "fog", "gi"])
def test_to_linear_matches_its_reference(name, with_light):
    effect = effects.get(name)
    _, mask = gbuffer(effect)
    raw = torch.rand(2, len(effect.targets), *mask.shape[-2:], generator=torch.Generator().manual_seed(5)) * 2.4 - 1.2
    light = torch.tensor([0.5, 1.0, 2.0, 0.1, 0.2, 7.0])[:2 * len(effect.targets)].reshape(2, -1, 1, 1) \
        if with_light and effect.hdr else None
    reference = space.from_model_space(raw.clone(), effect)
    if light is not None:
        reference = reference * light
    reference = effect.apply_off_mask(reference, mask)
    got = fused.to_linear(JIT, raw, effect, light, mask)
    assert got.shape == raw.shape and torch.isfinite(got).all()
    assert torch.allclose(got, reference, rtol=1e-5, atol=1e-6)
    assert torch.allclose(fused.to_linear(JIT, raw, effect), space.from_model_space(raw.clone(), effect),
                          rtol=1e-5, atol=1e-6)  # no light, no mask: the mapping alone
