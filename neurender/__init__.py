"""neurender: neural rendering of screen-space effects (fog, AO, GI) from G-buffers.

The Python API, in three lines::

    from neurender import Predictor, load_gbuffer, load_view
    exr = "quick/data/objects_000/000.exr"
    ao = Predictor.from_pretrained("ao")(load_gbuffer(exr), load_view(exr))["ao.Y"]

Importing this package is cheap: the names below load their modules (torch, Mitsuba) on first use
(PEP 562), so ``import neurender.base`` and the CLI's ``--help`` never pay for them.
"""
import importlib

__version__ = "0.1.0"

API = {
    "Predictor": "neurender.inference.predictor",
    "list_pretrained": "neurender.inference.predictor",
    "pretrained_models": "neurender.run.catalog",
    "SamplingOptions": "neurender.inference.sampling",
    "TemporalBlend": "neurender.inference.temporal",
    "ViewParameters": "neurender.base.view",
    "load_gbuffer": "neurender.inference.files",
    "load_view": "neurender.inference.files",
    "preview": "neurender.inference.files",
    "read_exr": "neurender.base.exr",
    "write_exr": "neurender.base.exr",
    "read_views": "neurender.base.dataset",
    "contact_sheet": "neurender.evaluation.pictures",
    "evaluate": "neurender.evaluation.evaluate",
    "report": "neurender.evaluation.report",
    "convert": "data_gen.convert",
    "ConvertedView": "data_gen.convert",
    "PRESETS": "data_gen.convert",
    "from_contract": "data_gen.convert",
    "generate": "data_gen.generator",
    "GenerateOptions": "data_gen.generator",
    "RenderOptions": "data_gen.options",
    "validate": "data_gen.validate",
    "train": "neurender.training.train",
    "TrainConfig": "neurender.run.config",
}
"""Public name -> the module that defines it."""
__all__ = list(API)


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'neurender' has no attribute {name!r}")
    return getattr(importlib.import_module(API[name]), name)


def __dir__():
    return sorted(list(globals()) + __all__)
