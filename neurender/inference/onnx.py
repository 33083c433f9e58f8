"""ONNX export of a GAN run's generator, and an onnxruntime stand-in for it.

The exported graph is the network alone, in the networks' value space (`neurender.space`):
input ``x`` (1, C_in, H, W) -> output ``y`` (1, C_out, H, W) for one image size (the pooled
attention's adaptive pooling exports with fixed shapes only; `OnnxNetwork` exports once
per size it meets). Mapping to and from linear values stays in Python
(`neurender.inference.predictor.Predictor`), so both backends share it.
"""
from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import torch

from neurender.base.atomic import atomic_path
from neurender.base.errors import InputError

OPSET = 17


def export_onnx(network: torch.nn.Module, in_channels: int, path: str, height: int, width: int) -> str:
    """Write ``network`` (1, in_channels, height, width) -> (1, C_out, height, width) to ``path`` as ONNX."""
    network = network.eval()
    example = torch.zeros(1, in_channels, height, width)
    with atomic_path(path, ".onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # instance norm's "train=True" notice: it normalises per image either way
        torch.onnx.export(network, (example,), tmp, input_names=["x"], output_names=["y"], opset_version=OPSET,
                          dynamo=False)
    return path


def session(path: str):
    """An onnxruntime CPU session of the ONNX file ``path``; InputError when it cannot load."""
    import onnxruntime  # a third of a second: only when the backend is asked for

    if not os.path.isfile(path):
        raise InputError(f"ONNX file not found: {path}")
    try:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        # idle threads that spin take the cores from torch's pre- and post-processing between calls
        # (docs/models.md, "Fast tier")
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for broken files
        raise InputError(f"cannot load ONNX model {path}: {' '.join(str(exc).split())[:160]}") from None


class OnnxNetwork:
    """A torch network run by onnxruntime on the CPU, called like the module: exported once per
    input size (into a temporary folder it owns) and kept as a session."""

    def __init__(self, network: torch.nn.Module, in_channels: int):
        self.network, self.in_channels = network, in_channels
        self.folder = tempfile.TemporaryDirectory(prefix="neurender-onnx-")  # removed with the object
        self.sessions: dict[tuple[int, int], object] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, H, W) -> (B, C_out, H, W), one image at a time."""
        size = tuple(x.shape[-2:])
        if size not in self.sessions:
            path = os.path.join(self.folder.name, f"network_{size[0]}x{size[1]}.onnx")
            self.sessions[size] = session(export_onnx(self.network, self.in_channels, path, *size))
        images = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        outputs = [self.sessions[size].run(None, {"x": image[None]})[0] for image in images]
        return torch.from_numpy(outputs[0] if len(outputs) == 1 else np.concatenate(outputs))
