"""--albedo: every diffuse albedo set to one grey (issue 46's stress sets of white and black scenes)."""
import numpy as np
import pytest
from nr_helpers import render_ref, run_main


def test_the_albedo_override_reaches_every_pass():
    import scenes

    ref = scenes.resolve(["objects"], 1, 5)[0]
    rendered = {a: render_ref(ref, 24, albedo=a)[1] for a in (0.0, 0.5, 1.0)}
    on = rendered[0.5]["mask.Y"] > 0.99
    for a, channels in rendered.items():
        for c in "RGB":
            np.testing.assert_allclose(channels[f"albedo.{c}"][on], a, atol=1e-6)
    # more light comes back from brighter surfaces, in the fog-free and the foggy image alike
    for pass_channels in (("R", "G", "B"), ("fog.R", "fog.G", "fog.B")):
        means = [float(np.mean([rendered[a][c][on].mean() for c in pass_channels])) for a in (0.0, 0.5, 1.0)]
        assert means[0] < means[1] < means[2], (pass_channels, means)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_an_albedo_outside_0_1_is_one_error_line(value, tmp_path):
    result = run_main("generate", "objects", "--albedo", value, "--res", "8", "--out", tmp_path / "d")
    assert result.returncode == 2 and "--albedo must be in [0, 1]" in result.stderr and not (tmp_path / "d").exists()
