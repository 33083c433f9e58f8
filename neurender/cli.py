"""The `neurender` command line. Exit status: 0 done, 2 bad input (`error: ...`), 1 our failure."""
from __future__ import annotations

import argparse
import os
import sys

from core.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        raise InputError(f"{self.prog}: {message}")


def _add_render_options(p: argparse.ArgumentParser) -> None:
    from data_gen.options import RenderOptions

    d = RenderOptions()
    p.add_argument("--res", type=int, default=d.res, help="image width and height in pixels")
    p.add_argument("--spp", type=int, default=d.spp, help="samples per pixel of the path-traced passes (rgb, env, fog)")
    p.add_argument("--spp-direct", type=int, default=None, help="direct pass spp (default: spp / 4)")
    p.add_argument("--spp-ao", type=int, default=None, help="AO rays per pixel (default: spp)")
    p.add_argument("--spp-gbuffer", type=int, default=d.spp_gbuffer, help="G-buffer samples per pixel (anti-aliasing)")
    p.add_argument("--max-depth", type=int, default=d.max_depth, help="longest light path")
    p.add_argument("--sigma-s", type=float, default=d.sigma_s, help="fog scattering coefficient (relative)")
    p.add_argument("--sigma-a", type=float, default=d.sigma_a, help="fog absorption coefficient (relative)")
    p.add_argument("--fog-scale", type=float, default=d.fog_scale,
                   help="optical depth along the scene diagonal per unit sigma_t (absolute = sigma * fog_scale / diagonal)")
    p.add_argument("--ao-radius", type=float, default=d.ao_radius, help="AO ray length as a fraction of the scene diagonal")


def _range(text: str) -> tuple[float, float]:
    """argparse type of a range option: "LOW:HIGH" or one number (a fixed value)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW:HIGH or a number")
    return (values[0], values[-1])


def _render_options(args):
    from data_gen.options import RenderOptions

    return RenderOptions(
        res=args.res, spp=args.spp,
        spp_direct=args.spp_direct if args.spp_direct is not None else max(1, args.spp // 4),
        spp_ao=args.spp_ao if args.spp_ao is not None else args.spp,
        spp_gbuffer=args.spp_gbuffer, max_depth=args.max_depth, sigma_s=args.sigma_s, sigma_a=args.sigma_a,
        fog_scale=args.fog_scale, ao_radius=args.ao_radius)


def build_parser() -> argparse.ArgumentParser:
    from neurender.config import add_config_arguments
    from neurender.effects import EFFECTS
    from neurender.tasks import SAMPLERS, TASKS

    parser = _Parser(prog="neurender", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("doctor", help="show the Mitsuba variant, libLLVM and torch device in use")

    gen = sub.add_parser("generate", help="render a G-buffer dataset with path-traced targets")
    gen.add_argument("scenes", nargs="+", metavar="SCENE", help="forest, objects, room, studio or a Mitsuba 3 XML file")
    gen.add_argument("--out", required=True, help="dataset directory (created, or resumed)")
    gen.add_argument("--count", type=int, default=1, help="instances of each built-in scene (different seeds)")
    gen.add_argument("--views", type=int, default=24, help="views per scene")
    gen.add_argument("--step-deg", type=float, default=15.0, help="camera turn between views of built-in scenes, degrees")
    gen.add_argument("--orbit-deg", type=float, default=60.0,
                     help="XML scenes: the views spread over this arc centred on the file's camera, degrees")
    gen.add_argument("--xml-sensors", action="store_true", help="XML scenes: view k is the file's sensor k")
    gen.add_argument("--elevation-deg", type=_range, default=None, metavar="LOW:HIGH",
                     help="per-view random downward view angle, degrees (default: the scene's)")
    gen.add_argument("--distance-scale", type=_range, default=None, metavar="LOW:HIGH",
                     help="per-view random factor on the camera's distance from the pivot (default: 1)")
    gen.add_argument("--fov-deg", type=_range, default=None, metavar="LOW:HIGH",
                     help="per-view random horizontal field of view, degrees (default: the scene's)")
    gen.add_argument("--seed", type=int, default=0, help="dataset seed")
    gen.add_argument("--workers", type=int, default=1, help="parallel render processes")
    gen.add_argument("--executor", choices=("local", "ray"), default="local")
    gen.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local one)")
    gen.add_argument("--view-timeout", type=float, default=None, metavar="SECONDS",
                     help="a view taking longer is killed and retried once, then the run stops (default: 600 "
                          "until a view has finished, then max(120, 20 x the slowest finished view))")
    _add_render_options(gen)

    train = sub.add_parser("train", help="train an effect predictor (attention cGAN or conditional diffusion)",
                           description="Every field of TrainConfig (neurender/config.py) is a flag; nested "
                                       "configs as --acgan.FIELD, --unet.FIELD, --diffusion.FIELD.")
    train.add_argument("--model", required=True, choices=list(TASKS))
    train.add_argument("--effect", required=True, choices=list(EFFECTS))
    train.add_argument("--data", required=True, nargs="+", help="dataset directories (one or several)")
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--width", type=int, help="base channel count of every network (sets --acgan.base-channels, "
                                                 "--acgan.disc-channels and --unet.base-channels)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    add_config_arguments(train, skip=("model", "effect", "data"))

    pred = sub.add_parser("predict", help="predict an effect from G-buffer EXRs with a trained run")
    pred.add_argument("--checkpoint", required=True, help="run directory, or pretrained:ao|fog|gi (shipped models)")
    pred.add_argument("--input", required=True, help="an EXR file or a directory of them")
    pred.add_argument("--out", required=True)
    pred.add_argument("--steps", type=int, default=None, help="DDIM steps (diffusion; default: the run's sample_steps)")
    pred.add_argument("--samples", type=int, default=1, help="diffusion draws averaged; their per-pixel spread is written as std.<channel>")
    pred.add_argument("--seed", type=int, default=0, help="noise seed (diffusion)")
    pred.add_argument("--sampler", choices=SAMPLERS, default=None,
                      help="diffusion: the mean of the DDIM draws, or the model's one-evaluation estimate of the "
                           "mean (draws then give only std.*); default: the run's")
    pred.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                      help="onnxruntime: the GAN generator exported to ONNX (see neurender export)")
    pred.add_argument("--tile", type=int, default=None, metavar="PX",
                      help="predict a GAN in tiles of at most PX pixels a side (same output; automatic above 3840x2160)")
    pred.add_argument("--internal-res", type=int, default=None, metavar="PX",
                      help="predict at PX pixels on the short side and upsample guided by depth and normals "
                           "(the same answer at any resolution: use the training data's resolution)")

    ev = sub.add_parser("evaluate", help="score methods (baselines, training runs) against the path-traced reference")
    ev.add_argument("--data", required=True, help="dataset directory")
    ev.add_argument("--effect", required=True, choices=list(EFFECTS))
    ev.add_argument("--method", nargs="+", default=None, metavar="NAME_OR_RUN",
                    help="baseline names or run directories (default: every baseline of the effect)")
    ev.add_argument("--split", default="all", choices=("all", "train", "test"), help="views of which scenes")
    ev.add_argument("--out", required=True, help="evaluation folder")
    ev.add_argument("--no-path-tracer", action="store_true", help="skip the path tracer's quality/time curve")
    ev.add_argument("--steps", type=int, default=None, help="DDIM steps of diffusion runs (default: each run's sample_steps)")
    ev.add_argument("--samples", type=int, default=1,
                    help="diffusion draws averaged; >1 also scores the calibration of their spread")
    ev.add_argument("--seed", type=int, default=0, help="noise seed (diffusion)")
    ev.add_argument("--sampler", choices=SAMPLERS, default=None, help="diffusion runs' prediction (see predict)")

    cal = sub.add_parser("calibrate", help="fit a diffusion run's uncertainty scale on held-out views "
                                           "(writes RUN/calibration.json)")
    cal.add_argument("--checkpoint", required=True, help="diffusion run folder (a shipped model's folder too)")
    cal.add_argument("--data", required=True, help="validation dataset: scenes neither trained nor tested on")
    cal.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the run's sample_steps)")
    cal.add_argument("--samples", type=int, default=8, help="draws per view (at least 2)")
    cal.add_argument("--seed", type=int, default=0, help="noise seed")
    cal.add_argument("--sampler", choices=SAMPLERS, default=None, help="the prediction whose error is "
                                                                              "calibrated (default: the run's)")

    exp = sub.add_parser("export", help="export a GAN run: ONNX for onnxruntime, or a shipped model folder")
    exp.add_argument("--checkpoint", required=True, help="run directory (or pretrained:NAME)")
    exp.add_argument("--out", required=True, help="ONNX file, or the shipped model folder")
    exp.add_argument("--format", choices=("onnx", "shipped"), default="onnx",
                     help="onnx: the generator as ONNX; shipped: config + fp16 EMA weights + MODEL_CARD.md")
    exp.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"),
                     help="image size the ONNX graph takes (onnx; rounded up to the network's stride)")
    exp.add_argument("--eval", nargs="*", default=[], metavar="EVAL_DIR",
                     help="evaluations whose tables go into the model card (shipped)")
    exp.add_argument("--notes", default=None, help="a Markdown file of remarks put into the model card (shipped)")

    rep = sub.add_parser("report", help="HTML and Markdown report from evaluation folders")
    rep.add_argument("eval_dirs", nargs="+", metavar="EVAL_DIR")
    rep.add_argument("--out", required=True)

    val = sub.add_parser("validate", help="check a dataset against the contract")
    val.add_argument("directory")

    st = sub.add_parser("stats", help="per-family histograms of depth, normals, AO and luminance (PNG + JSON)")
    st.add_argument("directories", nargs="+", metavar="DIR", help="one dataset, or several to compare")
    st.add_argument("--out", default=None, help="a .png path (JSON beside it) or a folder "
                                                "(default: DIR/stats/ for one dataset)")

    demo = sub.add_parser("demo", help="the whole flow on the built-in scenes: data, training, evaluation, report")
    demo.add_argument("--out", default="demo_out")
    demo.add_argument("--res", type=int, default=128, help="image size of the dataset")
    demo.add_argument("--spp", type=int, default=64)
    demo.add_argument("--views", type=int, default=8, help="views per scene")
    demo.add_argument("--count", type=int, default=2, help="instances of each built-in scene")
    demo.add_argument("--iters", type=int, default=600, help="training steps of each model")
    demo.add_argument("--workers", type=int, default=2)

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench_sub = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    bg = bench_sub.add_parser("generate", help="views/min, pipeline overhead, 2-worker speed-up")
    bg.add_argument("--scene", default="objects")
    bg.add_argument("--views", type=int, default=8)
    bg.add_argument("--res", type=int, default=128)
    bg.add_argument("--spp", type=int, default=32)
    bl = bench_sub.add_parser("generate-long", help="peak RSS of each recycled worker over 500 small views")
    bl.add_argument("--scene", default="objects")
    bl.add_argument("--count", type=int, default=5, help="scene instances")
    bl.add_argument("--views", type=int, default=100, help="views per instance")
    bl.add_argument("--res", type=int, default=16)
    bl.add_argument("--spp", type=int, default=4)
    bl.add_argument("--workers", type=int, default=2)
    bb = bench_sub.add_parser("baselines", help="ms/frame of each baseline at 256 and 512 px, and their scores")
    bb.add_argument("--data", required=True, help="dataset to score on (e.g. demo_out/dataset)")
    bp = bench_sub.add_parser("predict", help="ms/frame, ms per megapixel and peak RSS of trained runs and GTAO "
                                                "per size; SSIM; DDIM step table")
    bp.add_argument("runs", nargs="+", metavar="RUN")
    bp.add_argument("--data", required=True, help="dataset whose held-out views are scored")
    bp.add_argument("--sizes", nargs="+", default=["128", "256", "512"],
                    help="sizes timed: N (N x N pixels) or 720p, 1080p, 1440p, 2160p (16:9)")
    bp.add_argument("--eval", nargs="*", default=[], metavar="EVAL_DIR",
                    help="evaluation folders with the path tracer's curve (speed-up column)")
    return parser


def _doctor(args) -> int:
    from data_gen.variant import FAST_PATH_HINT, find_libllvm, init_mitsuba, is_vectorized

    choice = init_mitsuba()
    import mitsuba

    print(f"mitsuba {mitsuba.__version__}, variant {choice.name}: {choice.reason}")
    print(f"libLLVM: {choice.libllvm or find_libllvm() or 'none >= 16 found'}")
    if not is_vectorized(choice):
        print(f"warning: scalar_rgb runs the Python AO and G-buffer integrators per sample (very slow): {FAST_PATH_HINT}")
    try:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"torch {torch.__version__}, device {device}")
    except ImportError:
        print("torch: not installed")
    return 0


def _generate(args) -> int:
    from core.camera import Rig
    from data_gen.executors import ViewFailed
    from data_gen.generator import GenerateOptions, generate

    rig = Rig(args.elevation_deg, args.distance_scale, args.fov_deg, sensors=args.xml_sensors)
    options = GenerateOptions(tuple(args.scenes), args.count, args.views, args.step_deg, args.seed,
                              _render_options(args), rig=rig, orbit_deg=args.orbit_deg)
    try:
        stats = generate(options, args.out, args.workers, args.executor, args.ray_address, view_timeout=args.view_timeout)
    except ViewFailed as exc:  # the renderer hung or crashed on a view twice: exit 1, no traceback to ask for
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{stats['views_rendered']} views rendered, {stats['views_total']} in {args.out} "
          f"({stats['wall_seconds']:.1f} s)")
    return 0


def _train(args) -> int:

    from neurender.config import TrainConfig, config_from_args
    from neurender.train import train

    if args.width is not None:
        for flag in ("acgan.base_channels", "acgan.disc_channels", "unet.base_channels"):
            setattr(args, flag, getattr(args, flag, args.width))
    config = config_from_args(args, TrainConfig(model=args.model, effect=args.effect, data=args.data))
    result = train(config, args.out, resume=args.resume)
    if result["rank"] == 0:
        print(f"trained {args.model}/{args.effect} to step {result['step']} in {result['seconds']:.0f} s: {args.out}")
    return 0


def _predict(args) -> int:
    from neurender.predict import predict_files

    written = predict_files(args.checkpoint, args.input, args.out, args.steps, args.samples, args.seed,
                            backend=args.backend, tile=args.tile, internal_res=args.internal_res, sampler=args.sampler)
    print(f"{len(written)} prediction(s) written to {args.out}")
    return 0


def _calibrate(args) -> int:
    from neurender.calibrate import calibrate

    result = calibrate(args.checkpoint, args.data, args.steps, args.samples, args.seed, args.sampler)
    raw, calibrated = result["raw"], result["calibrated"]
    print(f"std_scale {result['std_scale']:.3f} for the {result['sampler']} sampler, {result['steps']} steps and "
          f"{result['samples']} draws, on "
          f"{result['views']} views: 2-std coverage {raw['coverage_2std']:.3f} -> {calibrated['coverage_2std']:.3f}, "
          f"Spearman(std, |error|) {raw['spearman']:.3f}")
    print(f"written to {os.path.join(args.checkpoint, 'calibration.json')}")
    return 0


def _evaluate(args) -> int:
    from neurender.evaluate import evaluate

    summary = evaluate(args.data, args.effect, args.method, args.out, args.split,
                       path_tracer_curve=not args.no_path_tracer, steps=args.steps, samples=args.samples, seed=args.seed,
                       sampler=args.sampler)
    print(f"{'':20s}{'surfaces (mask)':>22s}{'full frame':>22s}")
    print(f"{'method':20s}{'SSIM':>8s}{'PSNR':>8s}{'FLIP':>6s}{'SSIM':>10s}{'PSNR':>8s}{'FLIP':>6s}{'ms/frame':>10s}")
    for name, m in summary["methods"].items():
        masked, full = m["mean"], m["mean_full"]
        surfaces = (f"{masked['ssim']:8.3f}{masked['psnr']:8.2f}{masked['flip']:6.3f}" if masked["ssim"] is not None
                    else f"{'n/a':>22s}")
        print(f"{name:20s}{surfaces}{full['ssim']:10.3f}{full['psnr']:8.2f}{full['flip']:6.3f}{m['ms_per_frame']:10.1f}")
    for name, m in summary["methods"].items():
        if "uncertainty" in m:
            u = m["uncertainty"]
            spearman = "n/a" if u["spearman"] is None else f"{u['spearman']:.3f}"
            print(f"{name}: uncertainty of {u['samples']} draws: Spearman(std, |error|) {spearman}, "
                  f"2-std coverage {u['coverage_2std']:.3f}")
    if summary["empty_mask_views"]:
        print(f"{len(summary['empty_mask_views'])} view(s) with an empty mask left out of the surface figures: "
              f"{', '.join(summary['empty_mask_views'])}")
    print(f"summary: {os.path.join(args.out, 'summary.json')}")
    return 0


def _export(args) -> int:
    from neurender import export, pretrained

    if args.format == "shipped":
        print(f"weights: {pretrained.pack(args.checkpoint, args.out)}")
        print(f"model card: {pretrained.write_card(args.out, args.checkpoint, args.eval, args.notes)}")
    else:
        print(f"onnx: {export.export_run(args.checkpoint, args.out, *args.size)}")
    return 0


def _report(args) -> int:
    from neurender.report import report

    print(f"report: {report(args.eval_dirs, args.out)}")
    return 0


def _validate(args) -> int:
    from data_gen.validate import validate

    problems = validate(args.directory)
    for path, message in problems:
        print(f"{path}: {message}")
    if problems:
        raise InputError(f"{len(problems)} problem(s) in {args.directory}")
    print(f"{args.directory}: dataset follows the contract")
    return 0


def _stats(args) -> int:
    from neurender.stats import write_stats

    if args.out is None and len(args.directories) > 1:
        raise InputError("give --out when comparing several datasets")
    png, json_path = write_stats(args.directories, args.out or os.path.join(args.directories[0], "stats"))
    print(f"stats: {png}, {json_path}")
    return 0


def _demo(args) -> int:
    from neurender.demo import run_demo

    run_demo(args.out, res=args.res, spp=args.spp, views=args.views, count=args.count, workers=args.workers,
             iters=args.iters)
    return 0


def _bench(args) -> int:
    from neurender import bench

    if args.bench == "generate":
        bench.bench_generate(args.scene, views=args.views, res=args.res, spp=args.spp)
    elif args.bench == "generate-long":
        bench.bench_generate_long(args.scene, args.count, args.views, args.res, args.spp, args.workers)
    elif args.bench == "baselines":
        bench.bench_baselines(args.data)
    else:
        bench.bench_predict(args.runs, args.data, args.eval, sizes=tuple(args.sizes))
    return 0


COMMANDS = {"doctor": _doctor, "generate": _generate, "train": _train, "predict": _predict,
            "evaluate": _evaluate, "calibrate": _calibrate, "export": _export, "report": _report, "validate": _validate, "stats": _stats,
            "demo": _demo, "bench": _bench}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # a failure of ours: one line, the traceback with NEURENDER_DEBUG=1
        if os.environ.get("NEURENDER_DEBUG"):
            raise
        print(f"error: internal failure: {type(exc).__name__}: {exc} (NEURENDER_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
