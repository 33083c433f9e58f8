"""Training: the model families' losses, adversaries and optimisers, the loop, writing checkpoints,
monitoring (`neurender.evaluation.shipping` packs a run for shipping).

Stands on the run layer (`neurender.run`: the run's config, folder, checkpoint reading, network
inputs and predicting networks), beside inference; imports the models, the effect registry, the value
space, the dataset loader and the shared base; never inference, evaluation or the commands.
"""
