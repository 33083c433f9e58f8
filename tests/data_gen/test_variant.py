"""Variant choice: libLLVM discovery ignores LLVM < 16; the scalar fallback warns and still works."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from nr_helpers import load_manifest, run_neurender

from neurender.base import variant

SCALAR = {"NEURENDER_VARIANT": "scalar_rgb"}


@pytest.mark.parametrize("name, version", [
    ("libLLVM.so.23.1", 23),
    ("libLLVM-19.so.1", 19),
    ("libLLVM.so.19.1", 19),
    ("libLLVM-15.so", 15),
    ("libLLVM-15.so.1", 15),
    ("libLLVM.so.15.0.7", 15),
    ("libLLVM-17.0.6.so", 17),
    ("libLLVM.so", None),
    ("libLLVMSupport.a", None),
    ("libc.so.6", None),
])
def test_llvm_version_from_the_file_name(name, version):
    assert variant._llvm_version(f"/some/dir/{name}") == version


def test_llvm_version_reads_the_file_name_not_the_directory():
    assert variant._llvm_version("/usr/lib/llvm-19/lib/libLLVM.so") is None


def _fake_files(monkeypatch, tmp_path, names_by_pattern: dict[str, list[str]]):
    """Make glob return the given files (created under tmp_path) for the pattern containing each key."""
    files = {}
    for key, names in names_by_pattern.items():
        folder = tmp_path / key.strip("/*").replace("/", "_")
        folder.mkdir(parents=True, exist_ok=True)
        files[key] = []
        for name in names:
            (folder / name).write_bytes(b"")
            files[key].append(str(folder / name))

    def fake_glob(pattern):
        return [f for key, paths in files.items() if key in pattern for f in paths]

    monkeypatch.setattr(variant.glob, "glob", fake_glob)
    return files


def test_find_libllvm_ignores_llvm_15(monkeypatch, tmp_path):
    _fake_files(monkeypatch, tmp_path, {"/usr/lib/llvm-": ["libLLVM-15.so.1", "libLLVM.so.15.0.7"]})
    assert variant.find_libllvm() is None


def test_find_libllvm_picks_the_newest_at_least_16(monkeypatch, tmp_path):
    files = _fake_files(monkeypatch, tmp_path, {
        "/usr/lib/llvm-": ["libLLVM-15.so.1", "libLLVM-16.so.1"],
        "-linux-gnu": ["libLLVM-19.so.1", "libLLVM-14.so.1"],
        "/usr/local/lib": ["libLLVM-17.so"],
    })
    found = variant.find_libllvm()
    assert found == files["-linux-gnu"][0]
    assert os.path.basename(found) == "libLLVM-19.so.1"


def test_find_libllvm_needs_a_real_file(monkeypatch):
    monkeypatch.setattr(variant.glob, "glob", lambda pattern: ["/nonexistent/libLLVM-19.so.1"])
    assert variant.find_libllvm() is None


def test_min_llvm_is_16():
    assert variant.MIN_LLVM == 16
    assert "libLLVM" in variant.FAST_PATH_HINT


def test_doctor_reports_the_variant():
    proc = run_neurender("doctor")
    assert proc.returncode == 0, proc.stderr
    assert "variant" in proc.stdout and "mitsuba" in proc.stdout


def test_doctor_in_scalar_mode_warns_how_to_get_the_fast_path():
    proc = run_neurender("doctor", env=SCALAR)
    assert proc.returncode == 0, proc.stderr
    assert "scalar_rgb" in proc.stdout
    output = proc.stdout + proc.stderr
    warnings = [line for line in output.splitlines() if "warning" in line.lower()]
    assert warnings, output
    assert any("libLLVM" in line and "16" in line for line in warnings), warnings


def test_scalar_generate_makes_a_valid_dataset(tmp_path):
    out = tmp_path / "scalar"
    proc = run_neurender("generate", "objects", "--out", out, "--views", "1", "--res", "8", "--spp", "2",
                         "--spp-gbuffer", "1", env=SCALAR, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert load_manifest(out)["renderer"]["variant"] == "scalar_rgb"
    check = run_neurender("validate", out)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("command", [("generate", "objects", "--views", "1", "--res", "8", "--out"),
                                     ("evaluate", "--data", "nowhere", "--effect", "ao", "--out"),
                                     ("bench", "compare", "--eval"),
                                     ("demo", "--out")])
def test_variant_cuda_without_a_gpu_is_one_line_and_exit_2(tmp_path, command):
    """The variant is set before anything else is done (bench compare writes nothing: "out" is its --eval)."""
    if variant._cuda_device_present():
        pytest.skip("this machine has a CUDA device")
    proc = run_neurender(*command, tmp_path / "out", "--variant", "cuda_ad_rgb")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "no" in proc.stderr and "CUDA" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_variant_flag_picks_the_renderer_recorded_in_the_manifest(tmp_path):
    out = tmp_path / "flag"
    proc = run_neurender("generate", "objects", "--out", out, "--views", "1", "--res", "8", "--spp", "2",
                         "--spp-gbuffer", "1", "--variant=scalar_rgb", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_manifest(out)["renderer"]["variant"] == "scalar_rgb"


def test_importing_the_rendering_side_chooses_no_variant():
    """Issue 49, item 4: the variant is chosen by a call (`use_variant`), never by an import."""
    code = ("import scenes, data_gen.generator, data_gen.passes, neurender.baselines.kernels\n"
            "import mitsuba\n"
            "assert mitsuba.variant() is None, mitsuba.variant()\n"
            "from neurender.base.variant import use_variant\n"
            "assert use_variant('scalar_rgb').name == mitsuba.variant() == 'scalar_rgb'\n"
            "assert use_variant().name == 'scalar_rgb'  # auto keeps the choice made\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "NEURENDER_VARIANT"})
    assert proc.returncode == 0, proc.stderr[-2000:]
