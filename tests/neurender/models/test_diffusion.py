"""Diffusion scheduler, sampling loops and the conditional U-Net (tiny sizes, CPU)."""
import math

import pytest
import torch

from neurender.models.diffusion import DiffusionConfig, NoiseScheduler, cosine_alpha_bar, sample_ddim, sample_ddpm
from neurender.models.unet import ConditionalUNet, UNetConfig

SCHEDULES = ["linear", "cosine"]
PREDICTIONS = ["epsilon", "v"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy machine they cost a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = UNetConfig(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(1,))


def _scheduler(schedule="linear", prediction="epsilon", steps=1000):
    return NoiseScheduler(DiffusionConfig(num_train_steps=steps, schedule=schedule,
                                          prediction=prediction))


def _randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class Oracle:
    """A perfect denoiser for one known x0: returns the true eps (or v) of any x_t."""

    def __init__(self, x0, scheduler):
        self.x0, self.scheduler = x0, scheduler
        self.out_channels = x0.shape[1]

    def __call__(self, x_t, t, cond):
        abar = self.scheduler.alphas_cumprod[t].to(x_t.dtype).view(-1, 1, 1, 1)
        eps = (x_t - abar.sqrt() * self.x0) / (1 - abar).sqrt()
        if self.scheduler.prediction == "epsilon":
            return eps
        return abar.sqrt() * eps - (1 - abar).sqrt() * self.x0


# ------------------------------------------------------------------ schedule

@pytest.mark.parametrize("schedule", SCHEDULES)
def test_alpha_bar_strictly_decreasing_in_unit_interval(schedule):
    s = _scheduler(schedule)
    abar = s.alphas_cumprod
    assert abar.shape == (1000,) and s.betas.shape == (1000,) and s.alphas.shape == (1000,)
    assert (abar > 0).all() and (abar < 1).all()
    assert (abar[1:] < abar[:-1]).all()
    assert torch.allclose(s.alphas, 1 - s.betas)


def test_linear_betas():
    s = _scheduler("linear")
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(s.betas.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64))


def test_cosine_matches_closed_form():
    s = _scheduler("cosine")
    T, eps = 1000, 0.008
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos(((t / T + eps) / (1 + eps)) * math.pi / 2) ** 2
    closed = f[1:] / f[0]                        # abar of step index i is f(i+1)/f(0)
    unclipped = s.betas < 0.999
    first_clip = int((~unclipped).nonzero()[0]) if (~unclipped).any() else T
    assert first_clip > 990 and s.betas.max().item() <= 0.999
    assert torch.allclose(s.alphas_cumprod[:first_clip], closed[:first_clip], rtol=1e-9, atol=1e-12)
    assert torch.allclose(cosine_alpha_bar(t[1:], T, eps), closed)
    assert s.betas[-1].item() == pytest.approx(0.999)   # f(T) = 0 would give beta = 1


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_add_noise_statistics(schedule):
    s = _scheduler(schedule)
    c = 1.5
    x0 = torch.full((200, 1000), c)              # 200k scalars
    for t_value in (0, 250, 600, 999):
        noise = _randn(200, 1000, seed=t_value)
        x_t = s.add_noise(x0, noise, torch.full((200,), t_value, dtype=torch.long))
        abar = s.alphas_cumprod[t_value].item()
        assert x_t.mean().item() == pytest.approx(math.sqrt(abar) * c, abs=0.01)
        assert x_t.std().item() == pytest.approx(math.sqrt(1 - abar), rel=0.01, abs=1e-3)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_target_roundtrip_recovers_x0_and_eps(schedule, prediction):
    s = _scheduler(schedule, prediction)
    x0, noise = _randn(6, 2, 4, 4, seed=1), _randn(6, 2, 4, 4, seed=2)
    t = torch.tensor([0, 1, 100, 500, 900, 998])
    x_t = s.add_noise(x0, noise, t)
    x0_hat, eps_hat = s.predict_x0_eps(s.training_target(x0, noise, t), x_t, t)
    assert torch.allclose(x0_hat, x0, atol=1e-4)
    assert torch.allclose(eps_hat, noise, atol=1e-4)
    # in float64 the roundtrip is exact to rounding, also at the noisiest step
    x0d, nd, td = x0.double(), noise.double(), torch.tensor([999] * 6)
    x0_hat, eps_hat = s.predict_x0_eps(s.training_target(x0d, nd, td), s.add_noise(x0d, nd, td), td)
    assert torch.allclose(x0_hat, x0d, atol=1e-7) and torch.allclose(eps_hat, nd, atol=1e-10)


def test_training_target_v_formula():
    s = _scheduler("linear", "v")
    x0, noise, t = _randn(2, 1, 2, 2, seed=3), _randn(2, 1, 2, 2, seed=4), torch.tensor([10, 700])
    abar = s.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    assert torch.allclose(s.training_target(x0, noise, t), abar.sqrt() * noise - (1 - abar).sqrt() * x0)
    assert torch.equal(_scheduler().training_target(x0, noise, t), noise)


def test_ddim_timesteps():
    s = _scheduler(steps=1000)
    ts = s.ddim_timesteps(10)
    assert len(ts) == 10 and ts[0] == 999 and ts[-1] == 0
    assert all(a > b for a, b in zip(ts, ts[1:]))
    assert s.ddim_timesteps(1) == [999]
    assert s.ddim_timesteps(1000) == list(range(999, -1, -1))
    for bad in (0, 1001, -3, 2.5):
        with pytest.raises(ValueError, match="num_steps"):
            s.ddim_timesteps(bad)


def test_ddpm_step_noise_has_posterior_variance():
    s = _scheduler()
    x0 = torch.zeros(1, 1, 256, 256)
    oracle = Oracle(x0, s)
    t = 500
    x_t = s.add_noise(x0, _randn(1, 1, 256, 256, seed=5), torch.tensor([t]))
    out = oracle(x_t, torch.tensor([t]), None)
    x_prev = s.ddpm_step(out, t, x_t, generator=torch.Generator().manual_seed(0))
    abar, abar_prev, beta = (s.alphas_cumprod[t].item(), s.alphas_cumprod[t - 1].item(),
                             s.betas[t].item())
    mean = math.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar) * x_t
    sigma = math.sqrt(beta * (1 - abar_prev) / (1 - abar))
    assert (x_prev - mean).std().item() == pytest.approx(sigma, rel=0.02)
    # t = 0: no noise, returns x0_hat
    x_0 = s.add_noise(x0, _randn(1, 1, 256, 256, seed=6), torch.tensor([0]))
    assert torch.allclose(s.ddpm_step(oracle(x_0, torch.tensor([0]), None), 0, x_0), x0, atol=1e-5)


# ------------------------------------------------------------------ sampling

@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_oracle_reconstructs_x0(schedule, prediction, eta):
    s = _scheduler(schedule, prediction)
    x0 = _randn(2, 3, 8, 8, seed=7).clamp(-2, 2)
    cond = torch.zeros(2, 1, 8, 8)
    out = sample_ddim(Oracle(x0, s), cond, s, steps=10, eta=eta,
                      generator=torch.Generator().manual_seed(0))
    assert out.shape == x0.shape
    assert (out - x0).abs().max().item() < 1e-4


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddpm_with_oracle_lands_on_x0(schedule, prediction):
    s = _scheduler(schedule, prediction)
    x0 = _randn(2, 3, 8, 8, seed=8).clamp(-2, 2)
    out = sample_ddpm(Oracle(x0, s), torch.zeros(2, 5, 8, 8), s,
                      generator=torch.Generator().manual_seed(1))
    assert out.shape == x0.shape
    assert (out - x0).abs().max().item() < 1e-3


def test_ddim_is_deterministic_given_the_seed():
    torch.manual_seed(0)
    model = ConditionalUNet(2, 3, TINY).eval()
    s = _scheduler()
    cond = _randn(2, 3, 8, 8, seed=9)

    def run(seed, eta=0.0):
        return sample_ddim(model, cond, s, steps=5, eta=eta,
                           generator=torch.Generator().manual_seed(seed))

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 2, 8, 8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.equal(run(3, eta=1.0), run(3, eta=1.0))   # noise of eta > 0 comes from the generator
    assert not torch.allclose(run(3, eta=1.0), run(3, eta=0.0))


def test_clip_bounds_the_sample():
    s = _scheduler(steps=50)

    def wild(x_t, t, cond):   # predicts huge noise: x0_hat far outside [-1, 1]
        return -50 * torch.ones_like(x_t)

    cond = torch.zeros(1, 1, 4, 4)
    for sample in (sample_ddim(wild, cond, s, steps=5, clip=(-1, 1), shape=(1, 2, 4, 4)),
                   sample_ddpm(wild, cond, s, clip=(-1, 1), shape=(1, 2, 4, 4),
                               generator=torch.Generator().manual_seed(0))):
        assert sample.shape == (1, 2, 4, 4)
        assert sample.min().item() >= -1 - 1e-6 and sample.max().item() <= 1 + 1e-6
    assert sample_ddim(wild, cond, s, steps=5, shape=(1, 2, 4, 4)).abs().max() > 10


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="schedule"):
        DiffusionConfig(schedule="quadratic")
    with pytest.raises(ValueError, match="prediction"):
        DiffusionConfig(prediction="x0")
    with pytest.raises(ValueError, match="beta"):
        DiffusionConfig(beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match="num_train_steps"):
        DiffusionConfig(num_train_steps=0)
    s = _scheduler(steps=100)
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"t must have shape \(B,\)"):
        s.add_noise(x, x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"t must be in \[0, 99\]"):
        s.add_noise(x, x, torch.tensor([1, 100]))
    with pytest.raises(ValueError, match="integer"):
        s.add_noise(x, x, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="shapes must match"):
        s.add_noise(x, torch.zeros(2, 1, 4, 5), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="t_prev"):
        s.ddim_step(x, 10, 10, x)
    with pytest.raises(ValueError, match="eta"):
        s.ddim_step(x, 10, 5, x, eta=-1.0)
    with pytest.raises(ValueError, match="clip"):
        s.ddpm_step(x, 10, x, clip=(1, -1))
    with pytest.raises(ValueError, match="t must be in"):
        s.ddpm_step(x, 100, x)
    with pytest.raises(ValueError, match="out_channels"):
        sample_ddim(lambda x_t, t, c: x_t, torch.zeros(1, 1, 4, 4), s, steps=2)
    with pytest.raises(ValueError, match="shape"):
        sample_ddim(lambda x_t, t, c: x_t, torch.zeros(1, 1, 4, 4), s, steps=2, shape=(1, 1, 4, 8))


# ------------------------------------------------------------------ U-Net

def test_unet_shapes_and_attributes():
    torch.manual_seed(0)
    model = ConditionalUNet(3, 5, TINY)
    assert model.out_channels == 3 and model.stride == 2
    out = model(torch.randn(2, 3, 8, 16), torch.tensor([0, 999]), torch.randn(2, 5, 8, 16))
    assert out.shape == (2, 3, 8, 16)
    deep = ConditionalUNet(1, 2, UNetConfig(base_channels=8, channel_mults=(1, 2, 2),
                                            num_res_blocks=2, attention_levels=(1, 2)))
    assert deep.stride == 4
    assert deep(torch.randn(1, 1, 16, 8), torch.tensor([3]), torch.randn(1, 2, 16, 8)).shape == (1, 1, 16, 8)
    assert ConditionalUNet(3, 10).stride == 4   # defaults: three levels


def test_unet_rejects_bad_inputs():
    model = ConditionalUNet(3, 5, UNetConfig(base_channels=8, channel_mults=(1, 2, 2),
                                             attention_levels=(2,)))
    t = torch.tensor([1])
    with pytest.raises(ValueError, match="multiples of the U-Net stride 4"):
        model(torch.randn(1, 3, 10, 8), t, torch.randn(1, 5, 10, 8))
    with pytest.raises(ValueError, match="cond must have shape"):
        model(torch.randn(1, 3, 8, 8), t, torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match="x_t must have shape"):
        model(torch.randn(1, 2, 8, 8), t, torch.randn(1, 5, 8, 8))
    with pytest.raises(ValueError, match=r"t must have shape"):
        model(torch.randn(1, 3, 8, 8), torch.tensor([1, 2]), torch.randn(1, 5, 8, 8))
    with pytest.raises(ValueError, match="attention_levels"):
        UNetConfig(channel_mults=(1, 2))        # default attention level 2 does not exist
    with pytest.raises(ValueError, match="channel_mults"):
        UNetConfig(channel_mults=())


def test_time_embedding_changes_output():
    torch.manual_seed(0)
    model = ConditionalUNet(2, 3, TINY).eval()
    x, cond = torch.randn(1, 2, 8, 8), torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        a = model(x, torch.tensor([10]), cond)
        b = model(x, torch.tensor([500]), cond)
        c = model(x, torch.tensor([10]), cond)
    assert torch.equal(a, c)
    assert (a - b).abs().mean().item() > 1e-3


def test_tiny_unet_overfits_one_target():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    s = _scheduler()
    model = ConditionalUNet(3, 4, TINY)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = 8
    target = torch.rand(1, 3, 8, 8, generator=gen).expand(batch, -1, -1, -1) * 2 - 1
    cond = torch.rand(1, 4, 8, 8, generator=gen).expand(batch, -1, -1, -1)
    losses = []
    for _ in range(150):
        t = s.sample_timesteps(batch, gen)
        noise = torch.randn(target.shape, generator=gen)
        pred = model(s.add_noise(target, noise, t), t, cond)
        loss = torch.nn.functional.mse_loss(pred, s.training_target(target, noise, t))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.5 * first, (first, last)
