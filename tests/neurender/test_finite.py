"""No silent NaN (issue 47, item 8): view parameters out of range, non-finite G-buffer pixels and a
prediction that would not be finite are one clear error, from the command line and from Python."""
from __future__ import annotations

import math

import numpy as np
import pytest
from nr_helpers import error_lines, run_main

from neurender.base.errors import InputError
from neurender.base.view import ViewParameters


@pytest.mark.parametrize("values", [{"ao_radius": math.inf}, {"ao_radius": 0.0}, {"sigma_t": math.nan},
                                    {"sigma_t": -1.0}, {"fov_x": 0.0}, {"fov_x": 180.0}, {"fov_x": math.nan},
                                    {"background_distance": 0.0}])
def test_view_parameters_out_of_range_are_refused(values):
    (name,) = values
    with pytest.raises(InputError, match=f"view parameter {name} "):
        ViewParameters(**values)


def test_view_parameters_in_range_pass():
    view = ViewParameters(fov_x=179.0, ao_radius=1e-6, sigma_t=0.0, background_distance=math.inf)
    assert view.sigma_t == 0.0


def test_cli_refuses_an_infinite_ao_radius_and_writes_nothing(pair_dataset, tmp_path):
    view = next(pair_dataset.rglob("000.exr"))
    result = run_main("predict", "--checkpoint", "pretrained:ao", "--input", view, "--out", tmp_path / "out",
                      "--ao-radius", "inf")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "ao_radius (--ao-radius) is inf" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_python_api_refuses_non_finite_pixels_and_non_finite_predictions(pair_dataset):
    from neurender import Predictor, load_gbuffer, load_view

    exr = str(next(pair_dataset.rglob("000.exr")))
    gbuffer, view = load_gbuffer(exr), load_view(exr)
    predictor = Predictor.from_pretrained("gi-fast")
    assert all(np.isfinite(v).all() for v in predictor(gbuffer, view).values())
    broken = dict(gbuffer, **{"depth.Z": gbuffer["depth.Z"].copy()})
    broken["depth.Z"][1, 2] = np.nan
    with pytest.raises(InputError, match=r"non-finite values \(NaN or Inf\): depth.Z 1$"):
        predictor(broken, view)
    huge = {name: values if name == "mask.Y" else np.full_like(values, 3e38) for name, values in gbuffer.items()}
    with pytest.raises(InputError, match="the prediction holds .* non-finite values"):
        predictor(huge, view)
