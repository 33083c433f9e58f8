"""Inference: a run as a function (the predictor), its sampling options, tiles, guided upsampling,
the ONNX backend, EXR files in and out, and a diffusion run's uncertainty calibration.

Imports the run layer (`neurender.run`: to open runs and build their networks) and everything
below it; never training, evaluation or the commands.
"""
