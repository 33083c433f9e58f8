"""Fit a run's trust gate (:mod:`neurender.models.gate`) on views it was not trained on.

The run predicts every view through :class:`neurender.inference.predictor.Predictor` (the same
path as inference, gate off); its network input x and model-space prediction are kept with the
path-traced target in model space. The gate's input range is fitted on the surface pixels of all
views; its network then learns, on random crops, the per-pixel weight that brings ``guess + g * d``
closest to the target (L1 on the surfaces).
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from neurender import space
from neurender.base.errors import InputError
from neurender.data import GBufferDataset
from neurender.inference.predictor import Predictor
from neurender.models.gate import TrustGate
from neurender.training.inputs import guess_index


class _Capture:
    """Stands in for the gate while views are predicted: keeps (x, mean prediction) in model space."""

    def __init__(self):
        self.kept: list[tuple[torch.Tensor, torch.Tensor]] = []

    def __call__(self, x: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        self.kept.append((x.clone(), prediction.clone()))
        return prediction


def collect(predictor: Predictor, datasets: list[str]) -> dict[str, torch.Tensor]:
    """x (N, C_in, H, W), prediction and target (N, C_out, H, W) in model space and mask (N, 1, H, W) of
    every view of ``datasets`` (all the same size)."""
    capture = _Capture()
    predictor.gate = capture
    targets, masks = [], []
    items = [(d, i) for d in (GBufferDataset(root, predictor.effect.name) for root in datasets) for i in range(len(d))]
    for dataset, index in tqdm(items, desc="predict", unit="view"):
        item = dataset[index]
        inputs, target, mask = item["input"][None], item["target"][None], item["mask"][None]
        predictor.predict(inputs, mask, item["parameters"])
        if predictor.config.balances_light:
            target = target / space.light_scale(inputs, predictor.effect)[:, :target.shape[1]]
        targets.append(space.target_to_model_space(target, predictor.effect))
        masks.append(mask)
    sizes = {t.shape[-2:] for t in targets}
    if len(sizes) > 1:
        raise InputError(f"the gate's views must share one size; {', '.join(datasets)} hold {sorted(sizes)}")
    if len(capture.kept) != len(items):
        raise InputError(f"{predictor.run.label} draws {len(capture.kept) // len(items)} samples a view; fit its gate "
                         f"on one deterministic prediction (the mean sampler, one sample)")
    x = torch.cat([k[0] for k in capture.kept])
    prediction = torch.cat([k[1] for k in capture.kept])
    return {"x": x, "prediction": prediction, "target": torch.cat(targets), "mask": torch.cat(masks)}


def fit_gate(run: str, datasets: list[str], steps: int = 1500, crop: int = 64, batch: int = 16, lr: float = 2e-3,
             seed: int = 0, width: int = 16) -> tuple[TrustGate, dict]:
    """A fitted gate for ``run`` and a record of the fit (views, first and last crop loss, the surface L1
    in model space of the guess, the network, the gate before fitting and the fitted gate on the views)."""
    predictor = Predictor(run, backend="torch", device="cpu", gate=False)
    index = guess_index(predictor.effect, predictor.config.inputs)
    if index is None:
        raise InputError(f"{run} reads no classic guess ({predictor.config.inputs} inputs): a gate has nothing to "
                         f"fall back to")
    data = collect(predictor, datasets)
    torch.manual_seed(seed)
    gate = TrustGate(data["x"].shape[1], index, width)
    gate.fit_range(data["x"], data["mask"])

    def l1(values):
        return float(((values - data["target"]).abs() * data["mask"]).sum() / data["mask"].sum().clamp_min(1))

    def gated():
        with torch.no_grad():
            return torch.cat([gate(data["x"][i:i + 8], data["prediction"][i:i + 8]) for i in range(0, n, 8)])

    n = data["mask"].shape[0]
    l1_start = l1(gated())
    optimizer = torch.optim.Adam(gate.net.parameters(), lr=lr)
    height, width_px = data["mask"].shape[-2:]
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(steps), desc="fit gate", unit="step"):
        views = torch.randint(n, (batch,), generator=generator)
        top = int(torch.randint(height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(width_px - crop + 1, (1,), generator=generator))
        crop_of = {k: v[views, :, top:top + crop, left:left + crop] for k, v in data.items()}
        out = gate(crop_of["x"], crop_of["prediction"])
        loss = ((out - crop_of["target"]).abs() * crop_of["mask"]).sum() / crop_of["mask"].sum().clamp_min(1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    record = {"views": n, "steps": steps, "loss_first": losses[0], "loss_last": sum(losses[-50:]) / len(losses[-50:]),
              "l1_guess": l1(data["x"][:, index]), "l1_network": l1(data["prediction"]), "l1_start": l1_start,
              "l1_gated": l1(gated())}
    return gate.eval(), record
