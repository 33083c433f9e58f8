"""The run layer, below both training and inference: a run's config (`config`), its
folder and ``pretrained:NAME`` (`runs`), reading its checkpoint
(`checkpoint`), what its network reads (`inputs`) and, for each
model family, the network that predicts (`families`).

Imports the models, the classic methods, the effect registry, the value space and the shared base.
"""
