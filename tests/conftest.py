"""Shared fixtures: small datasets made once per session, Mitsuba in-process.

Rendering datasets costs a few seconds each (worker pools use 'spawn'), so every
dataset that more than one test reads is a session fixture. Tests that damage a
dataset copy it into their own tmp_path first.

In-process Mitsuba: request the ``mitsuba`` fixture, which sets the variant (`use_variant`), before
rendering in the test's process.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# tiny tensors: one torch thread is many times faster than two contending ones (here and in subprocesses)
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402 - after OMP_NUM_THREADS is set, which torch reads on import

torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nr_helpers import CBOX, MAIN_SCENES, SMALL, generate_into  # noqa: E402 - after tests/ is on sys.path


@pytest.fixture(scope="session")
def mitsuba():
    """Mitsuba with the project's variant choice, set up in this process; returns the module."""
    from data_gen import integrators
    from neurender.base.mitsuba import mi
    from neurender.base.variant import use_variant

    use_variant()
    integrators.register()
    return mi


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """forest, objects and room: 2 views each at 16 px, 4 spp, one worker, seed 0."""
    return generate_into(tmp_path_factory.mktemp("main") / "data", *MAIN_SCENES, extra=SMALL + ["--workers", "1"])


@pytest.fixture(scope="session")
def dataset_twin(tmp_path_factory) -> Path:
    """The same command as ``dataset`` except for two workers (pixels must not depend on that)."""
    return generate_into(tmp_path_factory.mktemp("twin") / "data", *MAIN_SCENES, extra=SMALL + ["--workers", "2"])


@pytest.fixture(scope="session")
def dataset_seed1(tmp_path_factory) -> Path:
    """objects with --seed 1, otherwise the options of ``dataset``."""
    return generate_into(tmp_path_factory.mktemp("seed1") / "data", "objects", extra=SMALL + ["--seed", "1"])


@pytest.fixture(scope="session")
def pair_dataset(tmp_path_factory) -> Path:
    """objects and room, 2 views each at 32 px, 4 spp: two scenes, so one is held out (learning side)."""
    return generate_into(tmp_path_factory.mktemp("pair") / "data", "objects", "room",
                         extra=["--views", "2", "--res", "32", "--spp", "4", "--workers", "1"])


@pytest.fixture(scope="session")
def cbox_path() -> Path:
    if not CBOX.is_file():
        pytest.fail(f"the Cornell box test scene is missing: {CBOX} (scenes/third_party/cbox)")
    return CBOX


@pytest.fixture(scope="session")
def cbox_dataset(tmp_path_factory, cbox_path) -> Path:
    return generate_into(tmp_path_factory.mktemp("cbox") / "data", cbox_path, extra=SMALL)


@pytest.fixture(scope="session")
def gbuffer_run(pair_dataset, tmp_path_factory) -> str:
    """A tiny AO GAN that reads the G-buffer only (``inputs="gbuffer"``, no classic guess), after one step."""
    from neurender.models.acgan import ACGANConfig
    from neurender.run.config import TrainConfig
    from neurender.training.train import train

    out = str(tmp_path_factory.mktemp("gbuffer") / "run")
    train(TrainConfig(model="acgan", effect="ao", data=str(pair_dataset), iters=1, batch=1, crop=32, inputs="gbuffer",
                      ema=0.0, sample_every=1000, checkpoint_every=1,
                      acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8,
                                        disc_layers=2)), out, progress=False)
    return out
