"""Attentional conditional GANs for screen-space effects (Abbas & Babahenini).

- Fog: a pix2pix-style conditional GAN, G-buffers -> fogged image.
- AO: an *attentional* conditional GAN: self-attention to pooled keys (`PooledAttention2d`) at the
  coarse levels of the U-Net generator and in the PatchGAN discriminator, for long-range
  dependencies; objective ``L_GAN + lambda_l1 * L1 + beta_ssim * (1 - SSIM)``.
- GI: `GICompositeGenerator`, direct light + an environment-light network + an AO network,
  combined with the object / background screen-space masks so objects stay in place.

Every generator maps (B, C_in, H, W) -> (B, C_out, H, W) with no output activation: the trainer
works in a normalised target space (e.g. ``[-1, 1]``) and decides what that space is.
`generator_objective` assumes that space is ``[-1, 1]`` for its SSIM term.

Typical step (``x`` input, ``y`` target, both in the trainer's space)::

    G = build_generator(c_in, c_out, config, composite)  # composite: an Effect record's field
    D = PatchDiscriminator(c_in, c_out, config)
    fake = G(x)
    d_loss = discriminator_objective(D(x, y), D(x, fake.detach()), config.gan_loss)
    g_loss, parts = generator_objective(D(x, fake), fake, y, config)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import kornia
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from neurender.models.layers import PooledAttention2d

GanLoss = Literal["vanilla", "lsgan", "hinge"]
GAN_LOSSES = get_args(GanLoss)
COMPOSITES = (None, "direct-env-ao")  # generators: plain U-Net, or the GI composite
SSIM_WINDOW = 11


@dataclass
class ACGANConfig:
    """Hyper-parameters of the attentional conditional GAN (defaults train on a CPU at 128 px)."""

    base_channels: int = 32
    """Channels of the generator's first (finest) level; level i has ``base_channels * 2 ** min(i - 1, 3)``
    (capped at 8x, as in pix2pix)."""
    depth: int = 4
    """2x downsamplings of the U-Net generator; its stride is ``2 ** depth`` (H and W must be multiples)."""
    attention_levels: tuple[int, ...] = (3, 4)
    """U-Net levels (1..depth) with a PooledAttention2d in encoder and decoder (the bottleneck, level
    ``depth``, gets one block); the default are the two coarsest of ``depth=4``."""
    disc_channels: int = 32
    """Channels of the discriminator's first convolution (doubled per layer, capped at 8x)."""
    disc_layers: int = 3
    """Stride-2 convolutions of the PatchGAN discriminator (3: the 70x70 receptive field of pix2pix);
    inputs must be at least ``3 * 2 ** disc_layers`` pixels."""
    spectral_norm: bool = True
    """Spectral normalisation on every discriminator convolution (without it, instance norm)."""
    gan_loss: GanLoss = "lsgan"
    """Adversarial loss: "vanilla" (BCE with logits), "lsgan" (least squares) or "hinge"."""
    lambda_l1: float = 100.0
    """Weight of the generator's L1 term (pix2pix: 100)."""
    beta_ssim: float = 10.0
    """Weight of the generator's ``1 - SSIM`` term (11x11 window on values mapped to [0, 1]); 0 disables it."""
    dropout: float = 0.0
    """Dropout probability in the decoder blocks (pix2pix: 0.5); 0 keeps the generator deterministic."""

    def __post_init__(self):
        self.attention_levels = tuple(self.attention_levels)
        if self.base_channels < 1 or self.disc_channels < 1:
            raise ValueError(f"base_channels and disc_channels must be >= 1, got "
                             f"{self.base_channels} and {self.disc_channels}")
        if self.depth < 1 or self.disc_layers < 1:
            raise ValueError(f"depth and disc_layers must be >= 1, got {self.depth} and {self.disc_layers}")
        bad = [level for level in self.attention_levels if not 1 <= level <= self.depth]
        if bad:
            raise ValueError(f"attention_levels {bad} outside 1..depth={self.depth}")
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {self.gan_loss!r}; choose one of {', '.join(GAN_LOSSES)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.lambda_l1 < 0 or self.beta_ssim < 0:
            raise ValueError(f"lambda_l1 and beta_ssim must be >= 0, got {self.lambda_l1} and {self.beta_ssim}")


def _check_input(x: torch.Tensor, channels: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects (B, {channels}, H, W), got {tuple(x.shape)}")


class AttentionUNetGenerator(nn.Module):
    """pix2pix U-Net with self-attention (SAGAN gate, pooled keys and values) at coarse levels.

    Encoder level i (1..depth): 4x4 stride-2 conv -> instance norm (not at level 1 nor at
    the 1-pixel-prone bottleneck, as in pix2pix) -> LeakyReLU(0.2) [-> PooledAttention2d].
    Decoder level i (depth..1): ReLU -> bilinear 2x upsample -> 3x3 conv (no checkerboard
    artefacts) -> instance norm [-> dropout], concatenated with the encoder skip of the same
    resolution [after a PooledAttention2d at attention levels]. The last block maps to
    ``out_channels`` with no norm and no activation.

    Attributes:
        stride: ``2 ** config.depth``; H and W must be multiples of it.

    Shapes: x (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, config: ACGANConfig | None = None):
        super().__init__()
        config = config or ACGANConfig()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels} and {out_channels}")
        self.in_channels, self.out_channels, self.config = in_channels, out_channels, config
        self.depth = config.depth
        self.stride = 2 ** config.depth
        ch = [in_channels] + [config.base_channels * 2 ** min(i - 1, 3) for i in range(1, self.depth + 1)]

        self.down = nn.ModuleList()
        self.down_attention = nn.ModuleList()
        for i in range(1, self.depth + 1):
            norm = 1 < i < self.depth
            layers = [nn.Conv2d(ch[i - 1], ch[i], 4, stride=2, padding=1, bias=not norm)]
            if norm:
                layers.append(nn.InstanceNorm2d(ch[i], affine=True))
            layers.append(nn.LeakyReLU(0.2))
            self.down.append(nn.Sequential(*layers))
            self.down_attention.append(PooledAttention2d(ch[i]) if i in config.attention_levels else nn.Identity())

        # up[i - 1] maps resolution level i to level i - 1; its input is the bottleneck (i == depth)
        # or the previous decoder output concatenated with the encoder skip (2 * ch[i]).
        self.up = nn.ModuleList()
        self.up_attention = nn.ModuleList()  # on the decoder output at level i (< depth), before concat
        for i in range(1, self.depth + 1):
            c_in = ch[i] if i == self.depth else 2 * ch[i]
            layers = [nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            if i == 1:
                layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1))
            else:
                layers += [nn.Conv2d(c_in, ch[i - 1], 3, padding=1, bias=False),
                           nn.InstanceNorm2d(ch[i - 1], affine=True)]
                if config.dropout > 0:
                    layers.append(nn.Dropout(config.dropout))
            self.up.append(nn.Sequential(*layers))
            wanted = i in config.attention_levels and i < self.depth
            self.up_attention.append(PooledAttention2d(ch[i]) if wanted else nn.Identity())

    @property
    def last(self) -> nn.Conv2d:
        """The output convolution."""
        return self.up[0][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_channels, H, W) -> (B, out_channels, H, W); ValueError unless H, W are
        multiples of `stride`."""
        _check_input(x, self.in_channels, type(self).__name__)
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(f"{type(self).__name__} input size {h}x{w} is not divisible by its stride "
                             f"{self.stride} (2 ** depth, depth={self.depth}); crop or pad to a multiple")
        skips = []
        for down, attention in zip(self.down, self.down_attention):
            x = attention(down(x))
            skips.append(x)                                          # level i: (B, ch[i], H/2^i, W/2^i)
        y = skips[-1]
        for i in range(self.depth, 0, -1):
            if i < self.depth:
                y = torch.cat([self.up_attention[i - 1](y), skips[i - 1]], dim=1)
            y = self.up[i - 1](y)                                    # -> level i - 1
        return y


class PatchDiscriminator(nn.Module):
    """PatchGAN (pix2pix 70x70 for ``disc_layers=3``) conditioned on the generator's input.

    The condition and the (real or generated) target are concatenated on channels, then:
    4x4 stride-2 convs (``disc_layers`` of them, channels ``disc_channels * 2**min(i, 3)``) ->
    one PooledAttention2d -> a 4x4 stride-1 conv -> a 4x4 stride-1 conv to 1 channel of logits.
    With ``config.spectral_norm`` every conv (attention's too) is spectrally normalised and no
    other normalisation is used; otherwise instance norm follows every conv but the first and last.

    Shapes: cond (B, cond_channels, H, W), target (B, target_channels, H, W) -> logits (B, 1, h, w)
    with h = H // 2**disc_layers - 2 (14x14 for 128 px and 3 layers); H and W must be at least
    ``3 * 2 ** disc_layers``.
    """

    def __init__(self, cond_channels: int, target_channels: int, config: ACGANConfig | None = None):
        super().__init__()
        config = config or ACGANConfig()
        if cond_channels < 1 or target_channels < 1:
            raise ValueError(f"cond_channels and target_channels must be >= 1, got "
                             f"{cond_channels} and {target_channels}")
        self.cond_channels, self.target_channels = cond_channels, target_channels
        self.min_size = 3 * 2 ** config.disc_layers
        sn = _spectral_norm if config.spectral_norm else (lambda m: m)

        def block(c_in, c_out, stride, norm):
            layers = [sn(nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1))]
            if norm and not config.spectral_norm:
                layers.append(nn.InstanceNorm2d(c_out, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            return layers

        ch = [config.disc_channels * 2 ** min(i, 3) for i in range(config.disc_layers + 1)]
        layers = block(cond_channels + target_channels, ch[0], 2, norm=False)
        for i in range(1, config.disc_layers):
            layers += block(ch[i - 1], ch[i], 2, norm=True)
        layers.append(PooledAttention2d(ch[config.disc_layers - 1], spectral_norm=config.spectral_norm))
        layers += block(ch[config.disc_layers - 1], ch[config.disc_layers], 1, norm=True)
        layers.append(sn(nn.Conv2d(ch[config.disc_layers], 1, 4, stride=1, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """cond (B, cond_channels, H, W), target (B, target_channels, H, W) -> logits (B, 1, h, w)."""
        _check_input(cond, self.cond_channels, f"{type(self).__name__} condition")
        _check_input(target, self.target_channels, f"{type(self).__name__} target")
        if cond.shape[0] != target.shape[0] or cond.shape[-2:] != target.shape[-2:]:
            raise ValueError(f"condition {tuple(cond.shape)} and target {tuple(target.shape)} differ "
                             f"in batch or size")
        h, w = cond.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(f"{type(self).__name__} input size {h}x{w} is below its minimum "
                             f"{self.min_size} (3 * 2 ** disc_layers)")
        return self.net(torch.cat([cond, target], dim=1))


class GICompositeGenerator(nn.Module):
    """GI composite: ``direct + mask * env * ao + (1 - mask) * env``.

    ``env`` (B, 3, H, W) is an `AttentionUNetGenerator` on all inputs (environment light),
    ``ao`` (B, 1, H, W) a second one on normal + depth through a sigmoid. The object mask keeps
    the objects in place (their indirect light is occluded by AO), the background mask
    ``1 - mask`` takes the environment light as is; ``direct`` is copied from the input.

    Space: the composite is evaluated in whatever space the caller feeds (the same as the
    other generators): ``direct`` must already be in the target's space and the ``mask``
    channel must hold the 0/1 object mask (do not normalise it). It is trained end to end
    with the same objective as the other generators: one loss on the final image, so no
    separate environment-light or AO targets are needed (the AO network learns AO only as
    far as it explains the image).

    Args:
        in_channels: C_in of the input.
        config: shared by both networks.
        channel_index: input channel positions: "direct" (3: R, G, B), "normal" (3),
            "depth" (1) and "mask" (1); ints or sequences. The dataset's "gi" input has no
            mask channel: append the item's ``mask`` to the input and name its index here.

    Shapes: x (B, in_channels, H, W) -> (B, 3, H, W).
    """

    SIZES = {"direct": 3, "normal": 3, "depth": 1, "mask": 1}

    def __init__(self, in_channels: int, config: ACGANConfig | None, channel_index: dict):
        super().__init__()
        config = config or ACGANConfig()
        self.in_channels = in_channels
        self.index: dict[str, list[int]] = {}
        for key, size in self.SIZES.items():
            if key not in channel_index:
                raise ValueError(f"channel_index lacks {key!r}; it needs {', '.join(self.SIZES)}")
            value = channel_index[key]
            value = [int(value)] if isinstance(value, int) else [int(v) for v in value]
            if len(value) != size or not all(0 <= v < in_channels for v in value):
                raise ValueError(f"channel_index[{key!r}] = {value} must be {size} indices in 0..{in_channels - 1}")
            self.index[key] = value
        self.env = AttentionUNetGenerator(in_channels, 3, config)
        self.ao = AttentionUNetGenerator(4, 1, config)
        self.stride = self.env.stride

    def forward(self, x: torch.Tensor, return_parts: bool = False):
        """x (B, in_channels, H, W) -> (B, 3, H, W); with ``return_parts`` also a dict of
        "env" (B, 3, H, W) and "ao" (B, 1, H, W)."""
        _check_input(x, self.in_channels, type(self).__name__)
        direct, mask = x[:, self.index["direct"]], x[:, self.index["mask"]]
        env = self.env(x)
        ao = torch.sigmoid(self.ao(x[:, self.index["normal"] + self.index["depth"]]))
        out = direct + mask * env * ao + (1 - mask) * env
        return (out, {"env": env, "ao": ao}) if return_parts else out


class ResidualGenerator(nn.Module):
    """A first guess plus a learnt correction: ``x[:, guess_index] + generator(x)``, or with
    ``scale_index`` ``x[:, guess_index] + generator(x) * (x[:, scale_index] + 1) / 2``: the correction
    scaled per channel by input channels in [-1, 1] read as [0, 1] (an albedo: light a diffuse surface
    reflects is proportional to it, so a black surface keeps its first guess exactly).

    The wrapped network (an `AttentionUNetGenerator` or a
    `neurender.models.fast.FastNet`: ``in_channels``, ``out_channels``, ``stride`` and its
    output convolution ``last``) has its last convolution start at zero, so an untrained
    network predicts the first guess exactly and training only has to learn where it is wrong (the
    guess is a classic method's answer, in the target's space, among the input channels).

    Shapes: x (B, in_channels, H, W) -> (B, len(guess_index), H, W).
    """

    def __init__(self, generator: nn.Module, guess_index: list[int], scale_index: list[int] | None = None):
        super().__init__()
        for name, index in (("guess_index", guess_index), ("scale_index", scale_index)):
            if index is not None and (len(index) != generator.out_channels
                                      or not all(0 <= i < generator.in_channels for i in index)):
                raise ValueError(f"{name} {index} must be {generator.out_channels} input channels of "
                                 f"0..{generator.in_channels - 1}")
        self.generator, self.guess_index = generator, list(guess_index)
        self.scale_index = list(scale_index) if scale_index else None
        self.stride = generator.stride
        nn.init.zeros_(generator.last.weight)
        nn.init.zeros_(generator.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        correction = self.generator(x)
        if self.scale_index:
            correction = correction * (x[:, self.scale_index] + 1) / 2
        return x[:, self.guess_index] + correction


def adversarial_loss(logits: torch.Tensor, real: bool, kind: str, *, for_discriminator: bool = True) -> torch.Tensor:
    """Scalar adversarial loss of ``logits`` (any shape) labelled ``real``.

    - "vanilla": BCE with logits against 1 (real) or 0 (fake).
    - "lsgan": mean squared error to 1 (real) or 0 (fake).
    - "hinge": discriminator ``mean(relu(1 - x))`` (real) / ``mean(relu(1 + x))`` (fake);
      generator (``for_discriminator=False``) ``-mean(x)``, which only exists for real=True.

    For vanilla and lsgan the generator's loss is the real-labelled loss of its fakes.
    """
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown gan loss {kind!r}; choose one of {', '.join(GAN_LOSSES)}")
    if kind == "vanilla":
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, torch.ones_like(logits) if real else torch.zeros_like(logits))
    if not for_discriminator:
        if not real:
            raise ValueError("the generator's hinge loss is defined for real=True only")
        return -logits.mean()
    return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map the trainer's ``[-1, 1]`` space to ``[0, 1]``: ``clamp((x + 1) / 2, 0, 1)``."""
    return ((x + 1) / 2).clamp(0, 1)


def generator_objective(d_fake_logits: torch.Tensor | None, fake: torch.Tensor, target: torch.Tensor,
                        config: ACGANConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """``adversarial + lambda_l1 * L1 + beta_ssim * (1 - SSIM)`` of the generator.

    Args:
        d_fake_logits: discriminator logits on (input, fake); None leaves the adversarial
            term out (reconstruction only, e.g. for a warm-up).
        fake, target: (B, C, H, W) in the trainer's ``[-1, 1]`` space. L1 is taken there;
            SSIM (kornia.metrics.ssim, 11x11 window, max_val 1) on `to_unit` of both,
            i.e. ``(x + 1) / 2`` clamped to ``[0, 1]`` (values beyond the range get no SSIM gradient;
            L1 still pulls them back).

    Returns:
        total: scalar tensor to backpropagate.
        parts: floats "adv", "l1", "ssim" (the SSIM value, not the loss) and "total".
    """
    if fake.shape != target.shape or fake.dim() != 4:
        raise ValueError(f"fake {tuple(fake.shape)} and target {tuple(target.shape)} must be equal (B, C, H, W)")
    zero = fake.new_zeros(())
    adv = zero if d_fake_logits is None else adversarial_loss(d_fake_logits, True, config.gan_loss,
                                                              for_discriminator=False)
    l1 = F.l1_loss(fake, target)
    if config.beta_ssim > 0:
        ssim = kornia.metrics.ssim(to_unit(fake), to_unit(target), SSIM_WINDOW, max_val=1.0).mean()
    else:
        ssim = fake.new_ones(()).detach()
    total = adv + config.lambda_l1 * l1 + config.beta_ssim * (1 - ssim)
    parts = {name: float(value.detach()) for name, value in
             (("adv", adv), ("l1", l1), ("ssim", ssim), ("total", total))}
    return total, parts


def discriminator_objective(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Scalar discriminator loss: the mean of the real-labelled loss of ``d_real_logits`` and the
    fake-labelled loss of ``d_fake_logits`` (pix2pix halves the sum to slow D down)."""
    return 0.5 * (adversarial_loss(d_real_logits, True, kind) + adversarial_loss(d_fake_logits, False, kind))


def build_generator(in_channels: int, out_channels: int, config: ACGANConfig | None, composite: str | None = None,
                    channel_index: dict | None = None, guess_index: list[int] | None = None,
                    scale_index: list[int] | None = None) -> nn.Module:
    """The generator; ``composite`` names it (an effect's field).

    None builds an `AttentionUNetGenerator` (a `ResidualGenerator` over it with
    ``guess_index`` and ``scale_index``); "direct-env-ao" a `GICompositeGenerator` (``out_channels`` must be 3 and
    ``channel_index`` is required). Its adversary is a `PatchDiscriminator(in_channels,
    out_channels, config)`.
    """
    config = config or ACGANConfig()
    if composite not in COMPOSITES:
        raise ValueError(f"unknown composite {composite!r}; choose one of {COMPOSITES}")
    if composite == "direct-env-ao":
        if out_channels != 3:
            raise ValueError(f"the direct-env-ao composite predicts RGB (3 channels), got out_channels={out_channels}")
        if channel_index is None:
            raise ValueError("the direct-env-ao composite needs channel_index (direct, normal, depth, mask)")
        generator = GICompositeGenerator(in_channels, config, channel_index)
    else:
        generator = AttentionUNetGenerator(in_channels, out_channels, config)
        if guess_index is not None:
            generator = ResidualGenerator(generator, guess_index, scale_index)
    return generator
