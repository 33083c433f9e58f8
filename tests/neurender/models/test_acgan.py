import math
from types import SimpleNamespace

import pytest
import torch

from neurender.base.errors import InputError
from neurender.models.acgan import (
    ACGANConfig,
    AttentionUNetGenerator,
    GICompositeGenerator,
    PatchDiscriminator,
    ResidualGenerator,
    adversarial_loss,
    build_generator,
    discriminator_objective,
    generator_objective,
)
from neurender.models.layers import PooledAttention2d, UpsampledConv2d, fuse_upsampling
from neurender.training.checkpoint import load_weights

TINY = dict(base_channels=8, disc_channels=8)
GI_INDEX = {"normal": [0, 1, 2], "depth": 3, "direct": [7, 8, 9], "mask": 10}


def tiny(**kwargs) -> ACGANConfig:
    return ACGANConfig(**{**TINY, **kwargs})


def gi_input(batch=2, size=16) -> torch.Tensor:
    x = torch.randn(batch, 11, size, size)
    x[:, 10] = (x[:, 10] > 0).float()
    return x


@pytest.mark.parametrize("c_in,c_out", [(10, 3), (4, 1)])
def test_generator_shapes(c_in, c_out):
    torch.manual_seed(0)
    generator = build_generator(c_in, c_out, tiny())
    assert isinstance(generator, AttentionUNetGenerator) and generator.stride == 16
    assert generator(torch.randn(2, c_in, 16, 32)).shape == (2, c_out, 16, 32)


def test_gi_composite_shape_and_formula():
    torch.manual_seed(0)
    generator = build_generator(11, 3, tiny(), "direct-env-ao", GI_INDEX)
    discriminator = PatchDiscriminator(11, 3, tiny())
    assert isinstance(generator, GICompositeGenerator) and generator.stride == 16
    x = gi_input()
    out, parts = generator(x, return_parts=True)
    assert out.shape == (2, 3, 16, 16)
    assert parts["env"].shape == (2, 3, 16, 16) and parts["ao"].shape == (2, 1, 16, 16)
    assert 0 <= parts["ao"].min() and parts["ao"].max() <= 1
    mask, direct = x[:, 10:11], x[:, 7:10]
    expected = direct + mask * parts["env"] * parts["ao"] + (1 - mask) * parts["env"]
    torch.testing.assert_close(out, expected)
    # background pixels: direct + env, whatever the AO
    background = (mask == 0).expand_as(out)
    torch.testing.assert_close(out[background], (direct + parts["env"])[background])
    x32 = gi_input(size=32)
    assert discriminator(x32, generator(x32)).shape == (2, 1, 2, 2)


def test_gi_needs_channel_index():
    with pytest.raises(ValueError, match="channel_index"):
        build_generator(11, 3, tiny(), "direct-env-ao")
    with pytest.raises(ValueError, match="mask"):
        GICompositeGenerator(11, tiny(), {k: v for k, v in GI_INDEX.items() if k != "mask"})
    with pytest.raises(ValueError, match="direct"):
        GICompositeGenerator(11, tiny(), {**GI_INDEX, "direct": [7, 8]})


def test_attention_starts_at_identity():
    torch.manual_seed(0)
    attention = PooledAttention2d(16)
    assert attention.query_conv.out_channels == 2 and attention.value_conv.out_channels == 16
    assert PooledAttention2d(4).key_conv.out_channels == 1
    x = torch.randn(2, 16, 6, 5)
    assert torch.equal(attention(x), x)
    with torch.no_grad():
        attention.gate.fill_(0.5)
    y = attention(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def _all_pairs(attention: PooledAttention2d, x: torch.Tensor) -> torch.Tensor:
    """SAGAN's attention over every position, written out: x + gate * V softmax(Q^T K)^T."""
    q, k, v = (conv(x).flatten(2) for conv in (attention.query_conv, attention.key_conv, attention.value_conv))
    weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)          # (B, N, N)
    return x + attention.gate * (v @ weights.transpose(1, 2)).view_as(x)


def test_attention_is_all_pairs_up_to_the_pool_size_and_pooled_beyond():
    torch.manual_seed(0)
    attention = PooledAttention2d(8, pool=4)
    with torch.no_grad():
        attention.gate.fill_(1.0)
    small = torch.randn(2, 8, 4, 3)
    assert torch.allclose(attention(small), _all_pairs(attention, small), atol=1e-5)
    large = torch.randn(1, 8, 12, 8)   # pooled to 4x4 keys: differs from all pairs
    assert not torch.allclose(attention(large), _all_pairs(attention, large), atol=1e-3)


def test_attention_runs_on_a_512_map():
    """All pairs at 512x512 would be a 262144^2 matrix (256 GB); pooled keys keep it to 256 per query."""
    attention = PooledAttention2d(8)
    with torch.no_grad():
        attention.gate.fill_(1.0)
        y = attention(torch.randn(1, 8, 512, 512))
    assert y.shape == (1, 8, 512, 512) and torch.isfinite(y).all()


def test_a_checkpoint_of_the_all_pairs_block_is_refused():
    """The former block named its parameters query/key/value/gamma: such weights must not load silently."""
    generator = AttentionUNetGenerator(4, 1, tiny(depth=2, attention_levels=(2,)))
    renames = {"query_conv.": "query.", "key_conv.": "key.", "value_conv.": "value.", "gate": "gamma"}
    old = {}
    for key, value in generator.state_dict().items():
        for new_name, old_name in renames.items():
            key = key.replace(new_name, old_name)
        old["net.generator." + key] = value
    with pytest.raises(InputError, match="does not fit this model"):
        load_weights(SimpleNamespace(networks={"generator": generator}, ema=None), old, "old-run")


@pytest.mark.parametrize("height,width,bias", [(1, 1, True), (2, 3, False), (1, 6, True), (5, 7, True), (17, 9, False)])
def test_an_upsampled_convolution_equals_upsampling_then_convolving(height, width, bias):
    torch.manual_seed(0)
    layers = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 torch.nn.Conv2d(4, 3, 3, padding=1, bias=bias))
    x = torch.randn(2, 4, height, width)
    expected, keys = layers(x), list(layers.state_dict())
    fused = fuse_upsampling(layers)
    assert isinstance(fused[1], UpsampledConv2d) and list(fused.state_dict()) == keys
    assert (fused(x) - expected).abs().max() < 1e-5  # the outermost ring (zero padding) too


def test_a_fused_generator_predicts_what_it_did():
    torch.manual_seed(0)
    generator = build_generator(5, 2, tiny()).eval()
    for p in generator.parameters():  # attention gates start at 0: give every block a say
        p.data.normal_(0, 0.3)
    x = torch.randn(1, 5, 32, 48)
    with torch.no_grad():
        expected = generator(x)
        fused = fuse_upsampling(generator)
        assert not any(isinstance(m, torch.nn.Upsample) for m in fused.modules())
        assert sum(isinstance(m, UpsampledConv2d) for m in fused.modules()) == generator.depth
        assert (fused(x) - expected).abs().max() < 1e-4 * expected.abs().max()


def test_stride_check():
    generator = AttentionUNetGenerator(4, 1, tiny())
    with pytest.raises(ValueError, match=r"24x32.*stride 16"):
        generator(torch.randn(1, 4, 24, 32))
    with pytest.raises(ValueError, match="expects"):
        generator(torch.randn(1, 3, 32, 32))


def test_an_albedo_scaled_correction_vanishes_on_black_and_is_whole_on_white():
    generator = build_generator(9, 3, tiny(), guess_index=[6, 7, 8], scale_index=[3, 4, 5])
    torch.nn.init.normal_(generator.generator.last.weight)  # a correction that is not 0
    x = torch.randn(1, 9, 32, 32)
    x[:, 3:6] = -1.0  # albedo 0 in the networks' space
    assert torch.equal(generator(x), x[:, 6:9])
    x[:, 3:6] = 1.0  # albedo 1: the whole correction
    assert torch.allclose(generator(x), x[:, 6:9] + generator.generator(x))
    x[:, 3] = 0.0  # albedo 0.5 in red only: half the red correction, all of the rest
    correction = generator(x) - x[:, 6:9]
    assert torch.allclose(correction[:, 0], generator.generator(x)[:, 0] / 2, atol=1e-6)
    assert torch.allclose(correction[:, 1:], generator.generator(x)[:, 1:], atol=1e-6)
    with pytest.raises(ValueError, match="scale_index"):
        ResidualGenerator(AttentionUNetGenerator(9, 3, tiny()), [6, 7, 8], [3, 4])


def test_config_checks():
    with pytest.raises(ValueError, match="gan_loss"):
        ACGANConfig(gan_loss="wgan")
    with pytest.raises(ValueError, match="attention_levels"):
        ACGANConfig(depth=3, attention_levels=(3, 4))


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_discriminator_shape(spectral_norm):
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(10, 3, tiny(spectral_norm=spectral_norm))
    logits = discriminator(torch.randn(2, 10, 32, 48), torch.randn(2, 3, 32, 48))
    assert logits.shape == (2, 1, 32 // 8 - 2, 48 // 8 - 2)
    with pytest.raises(ValueError, match="minimum 24"):
        discriminator(torch.randn(1, 10, 16, 16), torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="differ"):
        discriminator(torch.randn(1, 10, 32, 32), torch.randn(1, 3, 32, 40))


@pytest.mark.parametrize("use_discriminator", [False, True])
def test_one_step_reduces_generator_loss(use_discriminator):
    torch.manual_seed(0)
    config = tiny()
    generator, discriminator = build_generator(10, 3, config), PatchDiscriminator(10, 3, config)
    discriminator.requires_grad_(False).eval()  # frozen: no spectral-norm power iteration either
    x, target = torch.randn(4, 10, 32, 32), torch.rand(4, 3, 32, 32) * 2 - 1

    def loss():
        fake = generator(x)
        logits = discriminator(x, fake) if use_discriminator else None
        return generator_objective(logits, fake, target, config)

    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before, parts = loss()
    assert set(parts) == {"adv", "l1", "ssim", "total"} and math.isclose(parts["total"], before.item())
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after, _ = loss()
    assert after.item() < before.item()


def test_gan_loss_kinds():
    ones, minus = torch.ones(2, 1, 3, 3), -torch.ones(2, 1, 3, 3)
    confident = {"vanilla": (5.0, -5.0), "lsgan": (1.0, 0.0), "hinge": (2.0, -2.0)}  # real-like, fake-like
    for kind, (real_value, fake_value) in confident.items():
        big, small = torch.full((4,), real_value), torch.full((4,), fake_value)
        for logits in (ones, minus, torch.randn(2, 1, 3, 3)):
            for real in (True, False):
                assert torch.isfinite(adversarial_loss(logits, real, kind))
        # confident-correct logits cost less than confident-wrong ones
        assert adversarial_loss(big, True, kind) < adversarial_loss(small, True, kind)
        assert adversarial_loss(small, False, kind) < adversarial_loss(big, False, kind)
        assert discriminator_objective(big, small, kind) < discriminator_objective(small, big, kind)
        # the generator wants D to call its fakes real
        assert adversarial_loss(big, True, kind, for_discriminator=False) < \
            adversarial_loss(small, True, kind, for_discriminator=False)
    assert adversarial_loss(ones, True, "lsgan") == 0
    assert adversarial_loss(torch.zeros(3), False, "lsgan") == 0
    assert adversarial_loss(ones, True, "hinge") == 0 and adversarial_loss(minus, False, "hinge") == 0
    assert adversarial_loss(ones, True, "hinge", for_discriminator=False) == -1
    torch.testing.assert_close(adversarial_loss(torch.zeros(3), True, "vanilla"), torch.tensor(math.log(2)))
    assert adversarial_loss(torch.full((4,), 5.0), True, "vanilla") < 0.01
    with pytest.raises(ValueError, match="hinge"):
        adversarial_loss(ones, False, "hinge", for_discriminator=False)
    with pytest.raises(ValueError, match="unknown"):
        adversarial_loss(ones, True, "wgan")


def test_ssim_term_uses_unit_range():
    config = tiny(lambda_l1=0.0, beta_ssim=1.0)
    target = torch.rand(1, 1, 16, 16) * 2 - 1
    total, parts = generator_objective(None, target.clone(), target, config)
    assert parts["adv"] == 0 and parts["l1"] == 0
    assert math.isclose(parts["ssim"], 1.0, abs_tol=1e-4) and abs(total.item()) < 1e-4
    _, parts = generator_objective(None, -target, target, config)
    assert parts["ssim"] < 0.5
