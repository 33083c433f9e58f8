"""Classic screen-space baselines: SSAO, HBAO and GTAO ambient occlusion and analytic fog.

Every function takes batched torch tensors of the dataset's G-buffer channels (camera-space
z-depth, normals and mask; see `neurender.baselines.camera` for the camera model) and runs
on the device and in the dtype of its inputs. They import the effect registry and nothing above it.
"""
from neurender.baselines.camera import view_positions
from neurender.baselines.kernels import fog, gtao, hbao, ssao

__all__ = ["fog", "gtao", "hbao", "ssao", "view_positions"]
