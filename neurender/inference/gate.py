"""Fit a run's trust gate (`neurender.models.gate`) on views it was not trained on.

The run predicts every view through `neurender.inference.predictor.Predictor` (the same
path as inference, gate off); its network input x and model-space prediction are kept with the
path-traced target in model space and the view's light. The gate's input range is fitted on the
surface pixels of all views; its network then learns, on random crops, the per-pixel weight that
brings ``guess + g * d`` closest to the target where the metrics compare them: L1 of the display
values (`displayed`) on the surfaces, plus, with an ``ssim_weight``, that weight times 1 - SSIM there
(L1 alone keeps corrections that gain PSNR where they lose structure).
"""
from __future__ import annotations

from dataclasses import replace

import torch
from tqdm import tqdm

from neurender import effects, metrics, space
from neurender.base.errors import InputError
from neurender.data import GBufferDataset
from neurender.device import DeviceOptions
from neurender.inference.predictor import Predictor
from neurender.models.gate import TrustGate


class _Capture:
    """Stands in for the gate while views are predicted: keeps (x, mean prediction) in model space."""

    def __init__(self):
        self.kept: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        self.kept.append((x.clone(), prediction.clone()))
        return prediction


def collect(predictor: Predictor, datasets: list[str], shifts: tuple[dict, ...] = ()) -> dict[str, torch.Tensor]:
    """x (N, C_in, H, W), prediction and target (N, C_out, H, W) in model space, mask (N, 1, H, W) and
    light (N, C_out or 1, 1, 1) of every view of ``datasets`` (all the same size), and again of every
    view with each of ``shifts`` (view parameter -> factor) applied: parameters the target does not
    depend on (GI's AO radius), so the gate learns what the network does when they leave their range."""
    capture = _Capture()
    predictor.gate = capture
    targets, masks, lights = [], [], []
    items = [(d, i) for d in (GBufferDataset(root, predictor.effect.name) for root in datasets) for i in range(len(d))]
    for dataset, index in tqdm(items, desc="predict", unit="view"):
        item = dataset[index]
        inputs, target, mask = item["input"][None], item["target"][None], item["mask"][None]
        light = torch.ones(1, 1, 1, 1)
        if predictor.config.balances_light:
            light = space.light_scale(inputs, predictor.effect)[:, :target.shape[1]]
        view = item["parameters"]
        for shift in ({},) + tuple(shifts):
            predictor.predict(inputs, mask, replace(view, **{k: getattr(view, k) * f for k, f in shift.items()}))
            targets.append(space.target_to_model_space(target / light, predictor.effect))
            masks.append(mask)
            lights.append(light)
    sizes = {t.shape[-2:] for t in targets}
    if len(sizes) > 1:
        raise InputError(f"the gate's views must share one size; {', '.join(datasets)} hold {sorted(sizes)}")
    if len(capture.kept) != len(targets):
        raise InputError(f"{predictor.run.label} draws {len(capture.kept) // len(targets)} samples a view; fit its "
                         f"gate on one deterministic prediction (the mean sampler, one sample)")
    x = torch.cat([k[0] for k in capture.kept])
    prediction = torch.cat([k[1] for k in capture.kept])
    return {"x": x, "prediction": prediction, "target": torch.cat(targets), "mask": torch.cat(masks),
            "light": torch.cat(lights)}


def displayed(y: torch.Tensor, light: torch.Tensor, hdr: bool) -> torch.Tensor:
    """Model-space values (B, C, H, W) -> the display values the metrics compare (differentiable):
    radiance through the inverse of the model's Reinhard times the view's ``light`` (B, C or 1, 1, 1),
    then `neurender.space.display`; AO as it is, in [0, 1]."""
    u = ((y + 1) / 2).clamp(0, 1)
    if not hdr:
        return u
    u = u.clamp(max=0.999)
    return space.display(u / (1 - u) * light, hdr=True)


def fit_gate(run: str, datasets: list[str], steps: int = 1000, crop: int = 64, batch: int = 16, lr: float = 2e-3,
             seed: int = 0, width: int = 16, shifts: tuple[dict, ...] = (), guard_only: bool = False,
             ssim_weight: float = 0.0, albedo_scaled: bool = False) -> tuple[TrustGate, dict]:
    """A fitted gate for ``run`` and a record of the fit (views, first and last crop loss, the surface L1
    of the display values of the guess, the network, the gate before fitting and the fitted gate on
    the views); ``shifts`` as for `collect`. ``guard_only``: fit the input range alone and trust
    the network everywhere inside it (`TrustGate.trust_inside_range`; ``steps`` unused).
    ``ssim_weight``: the loss adds this times the surface mean of 1 - SSIM (11 px windows) of the crops.
    ``albedo_scaled``: the gate's weight is multiplied by min(albedo / `ALBEDO_FULL`, 1) of the albedo the
    network reads (`TrustGate`; effects whose target is RGB: GI)."""
    predictor = Predictor(run, backend="torch", devices=DeviceOptions(device="cpu"), gate=False)
    guess = predictor.effect.guess_channels
    index = [predictor.channels.index(name) for name in guess] if set(guess) <= set(predictor.channels) else None
    if index is None:
        raise InputError(f"{run} reads no classic guess ({predictor.config.inputs} inputs): a gate has nothing to "
                         f"fall back to")
    scale = None
    if albedo_scaled:
        if predictor.effect.targets != effects.RGB or not set(effects.ALBEDO) <= set(predictor.channels):
            raise InputError(f"an albedo-scaled gate is for runs that read the albedo and predict RGB (GI), not "
                             f"{run} ({predictor.effect.name})")
        scale = [predictor.channels.index(name) for name in effects.ALBEDO]
    data = collect(predictor, datasets, shifts)
    torch.manual_seed(seed)
    gate = TrustGate(data["x"].shape[1], index, width, scale_index=scale)
    gate.fit_range(data["x"], data["mask"])

    hdr = predictor.effect.hdr
    shown = displayed(data["target"], data["light"], hdr)

    def l1(values):
        error = (displayed(values, data["light"], hdr) - shown).abs() * data["mask"]
        return float(error.sum() / data["mask"].sum().clamp_min(1) / shown.shape[1])

    def gated():
        with torch.no_grad():
            return torch.cat([gate(data["x"][i:i + 8], data["prediction"][i:i + 8]) for i in range(0, n, 8)])

    n = data["mask"].shape[0]
    if guard_only:
        gate.trust_inside_range()
        return gate.eval(), {"views": n, "guard_only": True, "l1_guess": l1(data["x"][:, index]),
                             "l1_network": l1(data["prediction"]), "l1_gated": l1(gated())}
    l1_start = l1(gated())
    optimizer = torch.optim.Adam(gate.net.parameters(), lr=lr)
    height, width_px = data["mask"].shape[-2:]
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(steps), desc="fit gate", unit="step"):
        views = torch.randint(n, (batch,), generator=generator)
        top = int(torch.randint(height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(width_px - crop + 1, (1,), generator=generator))
        crop_of = {k: v[views, :, top:top + crop, left:left + crop] for k, v in data.items() if k != "light"}
        light = data["light"][views]
        out = displayed(gate(crop_of["x"], crop_of["prediction"]), light, hdr)
        target = displayed(crop_of["target"], light, hdr)
        surface = crop_of["mask"].sum().clamp_min(1)
        loss = ((out - target).abs() * crop_of["mask"]).sum() / surface
        if ssim_weight:
            loss = loss + ssim_weight * ((1 - metrics.ssim_map(out, target)) * crop_of["mask"]).sum() / surface
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    record = {"views": n, "steps": steps, "ssim_weight": ssim_weight, "albedo_scaled": albedo_scaled,
              "loss_first": losses[0], "loss_last": sum(losses[-50:]) / len(losses[-50:]),
              "l1_guess": l1(data["x"][:, index]), "l1_network": l1(data["prediction"]), "l1_start": l1_start,
              "l1_gated": l1(gated())}
    return gate.eval(), record
