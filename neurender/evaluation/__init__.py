"""Evaluation: methods by name (baselines and runs), scores against the path-traced reference, the
path tracer's quality/time curves, timing, pictures, the report, model cards and export (shipped
models with their cards, ONNX files).

Imports inference, training, the baselines, the rendering side (the path tracer re-renders the
reference pass) and everything below; never the commands.
"""
