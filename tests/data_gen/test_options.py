"""Render options: checks, fog coefficients, seeds; GenerateOptions checks."""
from __future__ import annotations

import pytest

from data_gen.generator import GenerateOptions
from data_gen.options import RenderOptions, medium_coefficients, pass_seed, view_seed
from neurender.base.errors import InputError


def test_defaults_pass_the_check():
    RenderOptions().check()


@pytest.mark.parametrize("field, value, flag", [
    ("res", 0, "--res"), ("spp", -1, "--spp"), ("spp_direct", 0, "--spp-direct"), ("spp_ao", 0, "--spp-ao"),
    ("spp_gbuffer", 0, "--spp-gbuffer"), ("max_depth", 0, "--max-depth"), ("sigma_s", -0.1, "--sigma-s"),
    ("sigma_a", -1.0, "--sigma-a"), ("fog_scale", float("nan"), "--fog-scale"), ("ao_radius", 0.0, "--ao-radius-fraction"),
    ("ao_radius", -1.0, "--ao-radius"),
])
def test_check_names_the_bad_option(field, value, flag):
    with pytest.raises(ValueError, match=flag):
        RenderOptions(**{field: value}).check()


def test_zero_fog_is_allowed():
    RenderOptions(sigma_s=0.0, sigma_a=0.0, fog_scale=0.0).check()


def test_medium_coefficients_scale_with_scene_size():
    options = RenderOptions(sigma_s=0.6, sigma_a=0.2, fog_scale=2.0)
    small, large = medium_coefficients(options, 10.0), medium_coefficients(options, 20.0)
    assert small["sigma_s"] == pytest.approx(0.12) and small["sigma_a"] == pytest.approx(0.04)
    assert small["sigma_t"] == pytest.approx(small["sigma_s"] + small["sigma_a"])
    # optical depth along the diagonal does not depend on the scene size
    assert small["sigma_t"] * 10 == pytest.approx(large["sigma_t"] * 20) == pytest.approx(1.6)


def test_view_seeds_are_stable_and_distinct():
    assert view_seed(0, "objects_000", 3) == view_seed(0, "objects_000", 3)
    seeds = {view_seed(s, scene, v) for s in (0, 1) for scene in ("objects_000", "room_000") for v in range(24)}
    assert len(seeds) == 2 * 2 * 24
    assert all(0 <= s < 2**32 for s in seeds)


def test_pass_seeds_differ_per_pass():
    seeds = [pass_seed(123, i) for i in range(6)]
    assert len(set(seeds)) == 6
    assert pass_seed(2**32 - 1, 1) < 2**32


def test_options_json_is_complete():
    data = RenderOptions(res=32).to_json()
    assert data["res"] == 32
    assert RenderOptions(**data) == RenderOptions(res=32)


@pytest.mark.parametrize("options, words", [
    (GenerateOptions(()), "at least one scene"),
    (GenerateOptions(("objects",), views=0), "--views"),
    (GenerateOptions(("objects",), render=RenderOptions(res=0)), "--res"),
])
def test_generate_options_check_raises_input_error(options, words):
    with pytest.raises(InputError, match=words):
        options.check()
