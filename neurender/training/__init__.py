"""Training: the run configuration, the model families, the loop, checkpoints and the run folder.

Owns the run folder (:mod:`neurender.training.runs`: its file names, ``pretrained:NAME``, loading
config, weights and calibration). Imports the models, the effect registry, the value space, the
dataset loader and the shared base; never inference, evaluation or the commands.
"""
