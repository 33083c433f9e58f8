"""The scripts that make shipped models: scripts/repoint_refiner.py (a refiner's U-Net over another first
guess, its weights unchanged)."""
import json
import subprocess
import sys
from pathlib import Path

from nr_helpers import error_lines

from neurender.effects import get
from neurender.inference.predictor import Predictor
from neurender.run import runs
from neurender.run.inputs import guess_method

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "repoint_refiner.py"


def _repoint(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_copy_reads_the_new_guess_with_the_same_weights(tmp_path):
    source = runs.open_run("pretrained:gi-diffusion")
    other = {"derived": ("pretrained:gi-gtao", "scaled"), "scaled": ("pretrained:gi", "derived")}[source.config.inputs]
    done = _repoint("pretrained:gi-diffusion", "--first-guess", other[0], "--inputs", other[1], "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    copy = runs.open_run(str(tmp_path / "r"))
    assert (copy.config.first_guess, copy.config.inputs) == other
    assert copy.config.unet == source.config.unet and not (tmp_path / "r" / "gate.safetensors").exists()
    assert (tmp_path / "r" / runs.CHECKPOINT).read_bytes() == Path(source.checkpoint_path).read_bytes()
    assert Predictor("pretrained:gi-diffusion").channels == Predictor(str(tmp_path / "r")).channels
    gi = get("gi")
    assert guess_method(gi, other[1]) != guess_method(gi, source.config.inputs)  # gi-ambient or gi-flat
    original = json.loads(Path(source.folder, runs.CONFIG).read_text())
    assert json.loads((tmp_path / "r" / runs.CONFIG).read_text()) == original | {"first_guess": other[0], "inputs": other[1]}


def test_a_model_that_is_no_refiner_or_of_another_effect_is_refused(tmp_path):
    for refiner, guess, word in (("pretrained:gi", "pretrained:gi", "not a refiner"),
                                 ("pretrained:gi-diffusion", "pretrained:ao", "predicts ao")):
        refused = _repoint(refiner, "--first-guess", guess, "--out", tmp_path / "r")
        lines = error_lines(refused.stderr)
        assert refused.returncode == 2 and len(lines) == 1 and word in lines[0], refused.stderr
    assert not (tmp_path / "r").exists()
