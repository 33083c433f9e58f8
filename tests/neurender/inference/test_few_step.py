"""Few-step diffusion over a first guess, its uncertainty channel and the calibration metrics."""
from __future__ import annotations

import pytest
import torch
from nr_helpers import REPO, error_lines, run_main

from neurender import metrics
from neurender.base.exr import read_exr
from neurender.base.view import ViewParameters
from neurender.evaluation.evaluate import evaluate
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.models.acgan import ACGANConfig
from neurender.models.unet import UNetConfig
from neurender.run.config import TrainConfig
from neurender.training.train import train

TINY = dict(effect="ao", iters=2, batch=2, crop=16, log_every=1, sample_every=1000, checkpoint_every=2, sample_steps=2,
            acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8, disc_layers=2),
            unet=UNetConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,)))


@pytest.fixture(scope="module")
def runs(pair_dataset, tmp_path_factory) -> dict[str, str]:
    """A tiny AO GAN and a tiny diffusion model refining it (2 steps each)."""
    root = tmp_path_factory.mktemp("few_step")
    gan, refiner = str(root / "gan"), str(root / "refiner")
    train(TrainConfig(model="acgan", data=str(pair_dataset), **TINY), gan, progress=False)
    train(TrainConfig(model="diffusion", data=str(pair_dataset), first_guess=gan, **TINY), refiner, progress=False)
    return {"gan": gan, "refiner": refiner, "data": str(pair_dataset)}


def _view(data: str) -> tuple[torch.Tensor, torch.Tensor, ViewParameters]:
    from neurender.data import GBufferDataset

    item = GBufferDataset(data, "ao")[0]
    return item["input"][None], item["mask"][None], item["parameters"]


def _count_calls(module: torch.nn.Module) -> list:
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_few_step_sampling_is_seeded_and_costs_steps_evaluations(runs, steps):
    """k steps cost k U-Net evaluations per draw and one first-guess evaluation per frame; the same
    seed gives the same draws, another seed other draws."""
    inputs, mask, view = _view(runs["data"])
    predictor = Predictor(runs["refiner"], SamplingOptions(steps=steps, samples=2, seed=5))
    unet_calls, guess_calls = _count_calls(predictor.network), _count_calls(predictor.model.first_guess)
    first = predictor.draws(inputs, mask, view)
    assert first.shape == (2, 1, 1, *mask.shape[-2:])
    assert len(unet_calls) == 2 * steps and len(guess_calls) == 1
    def draws(seed):
        return Predictor(runs["refiner"], SamplingOptions(steps=steps, samples=2, seed=seed)).draws(inputs, mask, view)

    assert torch.equal(first, draws(5))
    assert not torch.equal(first, draws(6))
    assert not torch.equal(first[0], first[1])


def test_mean_sampler_is_one_evaluation_and_draws_only_add_the_uncertainty(runs):
    """The mean sampler's prediction costs one U-Net evaluation and does not depend on the seed; with
    3 samples of 2 steps the draws (6 more evaluations) give the uncertainty and leave the prediction alone."""
    inputs, mask, view = _view(runs["data"])
    predictor = Predictor(runs["refiner"], SamplingOptions(sampler="mean", seed=1))
    calls = _count_calls(predictor.network)
    prediction, std = predictor.predict(inputs, mask, view)
    assert len(calls) == 1 and torch.equal(std, torch.zeros_like(std))
    again = Predictor(runs["refiner"], SamplingOptions(sampler="mean", seed=2)).predict(inputs, mask, view)[0]
    assert torch.equal(prediction, again)
    spread = Predictor(runs["refiner"], SamplingOptions(sampler="mean", steps=2, samples=3))
    calls, guess_calls = _count_calls(spread.network), _count_calls(spread.model.first_guess)
    with_draws, std = spread.predict(inputs, mask, view)
    assert len(calls) == 1 + 3 * 2 and len(guess_calls) == 1
    assert torch.allclose(with_draws, prediction, atol=1e-6) and (std > 0).any()
    one_step = Predictor(runs["refiner"], SamplingOptions(steps=1)).predict(inputs, mask, view)[0]
    assert not torch.equal(prediction, one_step)  # not a draw


def test_refiner_predicts_a_residual_over_its_first_guess(runs):
    """With the U-Net's output zeroed, one step returns the first guess itself (the residual's
    estimate from pure noise is sqrt(abar_{T-1}) x_T, about 0)."""
    inputs, mask, view = _view(runs["data"])
    predictor = Predictor(runs["refiner"], SamplingOptions(steps=1))
    last = [m for m in predictor.network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    guess = Predictor(runs["gan"]).predict(inputs, mask, view)[0]
    assert (predictor.predict(inputs, mask, view)[0] - guess).abs().max() < 1e-2
    assert (guess - guess.mean()).abs().max() > 0.01  # the comparison is not between two constants


def test_first_guess_must_be_a_gan_of_the_same_effect(runs, tmp_path):
    data = runs["data"]
    cases = {
        "must be an acgan run of effect ao, not a diffusion run": ("--model", "diffusion", "--effect", "ao",
                                                                   "--first-guess", runs["refiner"]),
        "must be an acgan run of effect fog, not a acgan run of ao": ("--model", "diffusion", "--effect", "fog",
                                                                      "--first-guess", runs["gan"]),
        "--first-guess is for diffusion models": ("--model", "acgan", "--effect", "ao", "--first-guess", runs["gan"]),
        "no shipped model 'nothing'": ("--model", "diffusion", "--effect", "ao", "--first-guess", "pretrained:nothing"),
    }
    for expected, args in cases.items():
        result = run_main("train", *args, "--data", data, "--out", tmp_path / "x", "--iters", "1", "--crop", "16")
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and expected in lines[0], (expected, result.stderr[-800:])


def test_uncertainty_channel_is_zero_for_one_draw(runs, tmp_path):
    for samples in (1, 3):
        out = tmp_path / str(samples)
        result = run_main("predict", "--checkpoint", runs["refiner"], "--input", runs["data"], "--out", out,
                          "--steps", "2", "--samples", str(samples))
        assert result.returncode == 0, result.stderr[-1500:]
        channels = read_exr(str(sorted(out.rglob("*.exr"))[0]))
        assert set(channels) == {"ao.Y", "std.ao.Y"}
        assert (channels["std.ao.Y"] == 0).all() == (samples == 1)


def test_evaluate_scores_the_calibration_of_several_draws(runs, tmp_path):
    one = evaluate(runs["data"], "ao", [runs["refiner"]], str(tmp_path / "one"), sampling=SamplingOptions(steps=2, samples=1))
    assert "uncertainty" not in one["methods"]["refiner"]
    many = evaluate(runs["data"], "ao", [runs["refiner"], "gtao"], str(tmp_path / "many"),
                    sampling=SamplingOptions(steps=2, samples=3))
    assert "uncertainty" not in many["methods"]["gtao"]
    u = many["methods"]["refiner"]["uncertainty"]
    assert (u["steps"], u["samples"]) == (2, 3) and 0 <= u["coverage_2std"] <= 1 and -1 <= u["spearman"] <= 1
    from neurender.evaluation.report import report

    report([str(tmp_path / "many")], str(tmp_path / "report"))
    assert "Uncertainty of refiner (ddim sampler, 3 draws of 2 steps)" in (tmp_path / "report" / "report.md").read_text()
    readme = (REPO / "docs" / "evaluation.md").read_text()
    section = readme[readme.index("## summary.json"):]
    assert all(f"`{key}`" in section for key in ("uncertainty", *u))


def test_calibration_metrics_on_known_cases():
    error = torch.tensor([0.0, -1.0, 2.0, 3.0, -4.0])
    assert metrics.calibration(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), error)["spearman"] == pytest.approx(1.0)
    assert metrics.calibration(torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0]), error)["spearman"] == pytest.approx(-1.0)
    # |error| <= 2 std for 0, 1, 2 of the five values
    assert metrics.calibration(torch.ones(5), error) == {"spearman": None, "coverage_2std": pytest.approx(0.6)}
    # ties take their average rank: std ranks (0.5, 0.5, 2, 3.5, 3.5) against |error| ranks (0, 1, 2, 3, 4)
    tied = metrics.calibration(torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0]), error)["spearman"]
    assert tied == pytest.approx(9 / (3 * 10 ** 0.5))
    # a calibrated Gaussian: error ~ N(0, std^2) with std drawn per pixel
    generator = torch.Generator().manual_seed(0)
    std = torch.rand(200_000, generator=generator) + 0.05
    gaussian = metrics.calibration(std, std * torch.randn(200_000, generator=generator))
    assert gaussian["coverage_2std"] == pytest.approx(0.9545, abs=0.003)
    assert 0.3 < gaussian["spearman"] < 0.6
    with pytest.raises(ValueError):
        metrics.calibration(torch.ones(3), torch.ones(4))


def test_a_packed_refiner_predicts_what_the_run_predicts(runs, tmp_path):
    from neurender.evaluation.model_card import write_card
    from neurender.evaluation.shipping import pack

    shipped = str(tmp_path / "shipped")
    pack(runs["refiner"], shipped)
    inputs, mask, view = _view(runs["data"])
    expected = Predictor(runs["refiner"], SamplingOptions(samples=2, seed=1)).draws(inputs, mask, view)
    got = Predictor(shipped, SamplingOptions(samples=2, seed=1)).draws(inputs, mask, view)
    assert (expected - got).abs().max() < 2e-2, "fp16 weights: close, not equal"
    text = open(write_card(shipped, runs["refiner"], [], sizes=((32, 48),))).read()
    assert f"refines the prediction of `{runs['gan']}`" in text and "the EMA unet in fp16" in text
    assert "48x32" in text, "the card times the sizes asked for"


def test_calibration_scales_the_spread_to_gaussian_coverage(runs, tmp_path):
    """calibrate fits std_scale so 95.4 % of the views' surface values fall within 2 std; a Predictor
    with the same steps and samples applies it, one with other samples does not (and predict says so)."""
    import shutil

    from neurender.base.errors import InputError
    from neurender.inference.calibration import calibrate

    run = str(tmp_path / "refiner")
    shutil.copytree(runs["refiner"], run)
    result = calibrate(run, runs["data"], progress=False, sampling=SamplingOptions(steps=2, samples=3))
    assert result["calibrated"]["coverage_2std"] == pytest.approx(0.9545, abs=0.01)
    assert result["raw"]["spearman"] == pytest.approx(result["calibrated"]["spearman"], abs=1e-4)  # ranks do not change
    inputs, mask, view = _view(runs["data"])
    fitted, other = Predictor(run, SamplingOptions(steps=2, samples=3)), Predictor(run, SamplingOptions(steps=2, samples=4))
    assert fitted.calibrated and fitted.std_scale == result["std_scale"] and not other.calibrated
    raw_std = fitted.draws(inputs, mask, view).std(0, unbiased=False)
    assert torch.allclose(fitted.predict(inputs, mask, view)[1], result["std_scale"] * raw_std)
    note = run_main("predict", "--checkpoint", run, "--input", runs["data"], "--out", tmp_path / "p",
                    "--steps", "2", "--samples", "4")
    assert note.returncode == 0 and "has no calibration for the ddim sampler, 2 steps and 4 samples" in note.stderr
    for bad, message in ((dict(samples=1), "at least 2"), (dict(run=runs["gan"]), "only diffusion runs"),
                         (dict(run="pretrained:ao"), "not pretrained:NAME")):
        with pytest.raises(InputError, match=message):
            calibrate(bad.get("run", run), runs["data"], progress=False,
                      sampling=SamplingOptions(steps=2, samples=bad.get("samples", 3)))
    (tmp_path / "refiner" / "calibration.json").write_text("{")
    with pytest.raises(InputError, match="not a valid calibration"):
        Predictor(run)


def test_the_uncertainty_is_the_spread_of_the_draws_before_the_trust_gate(runs, tmp_path):
    """A closed gate makes every draw the classic guess, without spread; the uncertainty is still the
    draws' spread before the gate, times std_scale."""
    import shutil

    from neurender.models.gate import TrustGate

    run = str(tmp_path / "gated")
    shutil.copytree(runs["refiner"], run)
    channels = Predictor(run).channels
    gate = TrustGate(len(channels), [channels.index("guess.ao.Y")])
    gate.net[-1].bias.data.fill_(-1e4)  # closed
    gate.save(run)
    inputs, mask, view = _view(runs["data"])
    for sampler in ("mean", "ddim"):
        sampling = SamplingOptions(steps=2, samples=3, seed=2, sampler=sampler)
        gated, free = Predictor(run, sampling), Predictor(run, sampling, gate=False)
        draws = gated.draws(inputs, mask, view)
        assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])
        prediction, std = gated.predict(inputs, mask, view)
        assert torch.allclose(prediction, draws[0])
        spread = free.draws(inputs, mask, view).std(0, unbiased=False)
        assert (spread > 0).any() and torch.allclose(std, gated.std_scale * spread)
