"""The run layer, below both training and inference: a run's config (:mod:`~neurender.run.config`), its
folder and ``pretrained:NAME`` (:mod:`~neurender.run.runs`), reading its checkpoint
(:mod:`~neurender.run.checkpoint`), what its network reads (:mod:`~neurender.run.inputs`) and, for each
model family, the network that predicts (:mod:`~neurender.run.families`).

Imports the models, the classic methods, the effect registry, the value space and the shared base.
"""
