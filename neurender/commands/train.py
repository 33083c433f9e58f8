"""The training command: `neurender train`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

import tyro

from neurender.device import DeviceOptions
from neurender.run.config import TrainConfig
from neurender.training.train import train


@dataclass(kw_only=True)
class TrainCommand:
    """Train an effect predictor (attention cGAN or conditional diffusion). Every field of TrainConfig
    (neurender/run/config.py) is a flag; nested configs as --acgan.FIELD, --unet.FIELD, --diffusion.FIELD."""

    config: Annotated[TrainConfig, tyro.conf.arg(name="")]
    """The run's configuration."""
    out: str
    """Run directory."""
    resume: bool = False
    """Continue the run in --out from its checkpoint."""
    width: int | None = None
    """Base channel count of every network (sets --acgan.base-channels, --acgan.disc-channels and
    --unet.base-channels; none: theirs)."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the networks run."""
    tensorboard: bool = True
    """TensorBoard scalars (losses, the sample views' SSIM and PSNR) and sample grids in RUN/tensorboard
    (tensorboard --logdir RUN); --no-tensorboard writes log.jsonl and the sample PNGs only."""


def run_train(command: TrainCommand) -> int:
    config = command.config
    if command.width is not None:
        config = replace(config, acgan=replace(config.acgan, base_channels=command.width, disc_channels=command.width),
                         unet=replace(config.unet, base_channels=command.width))
    result = train(config, command.out, resume=command.resume, devices=command.devices,
                   tensorboard=command.tensorboard)
    if result["rank"] == 0:
        print(f"trained {config.model}/{config.effect} to step {result['step']} in {result['seconds']:.0f} s: "
              f"{command.out}")
    return 0


COMMANDS = {"train": (TrainCommand, run_train)}
