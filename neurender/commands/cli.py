"""The `neurender` command line. Exit status: 0 done, 2 bad input (`error: ...`), 1 our failure.

Every command's flags come from its options dataclass, by tyro (`neurender.commands.arguments`); the
table below names the module that holds it, so ``neurender --help`` imports nothing heavy and a
command imports only what it runs.
"""
from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
from importlib.metadata import version

from neurender.base.errors import InputError

COMMANDS = {
    "doctor": ("data", "show the Mitsuba variant, libLLVM and torch device in use"),
    "generate": ("data", "render a G-buffer dataset with path-traced targets"),
    "validate": ("data", "check a dataset against the contract"),
    "convert": ("data", "bring your own G-buffer: EXRs in other conventions -> a dataset"),
    "stats": ("data", "per-family histograms of depth, normals, AO and luminance (PNG + JSON)"),
    "train": ("train", "train an effect predictor (attention cGAN or conditional diffusion)"),
    "predict": ("learn", "predict an effect from G-buffer EXRs with a trained run"),
    "export": ("learn", "export a run: ONNX for onnxruntime, or a shipped model folder"),
    "calibrate": ("learn", "fit a diffusion run's uncertainty scale on held-out views"),
    "models": ("learn", "list the shipped models: what each reads, quality beside its classic method, ms at 1080p"),
    "evaluate": ("evaluate", "score methods (baselines, runs) against the path-traced reference"),
    "report": ("evaluate", "HTML and Markdown report from evaluation folders"),
    "demo": ("demo", "the whole flow on the built-in scenes: data, training, evaluation, report"),
    "bench generate": ("bench", "views/min, pipeline overhead, 2-worker speed-up"),
    "bench generate-long": ("bench", "peak RSS of each recycled worker over 500 small views"),
    "bench baselines": ("bench", "ms/frame of each baseline (kernels and torch references) per size, and their scores"),
    "bench compare": ("bench", "methods against PT and PT + OIDN at equal quality, timed at 256 px to 1080p"),
    "bench predict": ("bench", "ms/frame, ms per megapixel and peak RSS of runs and GTAO per size; SSIM"),
}
"""Command name -> (module of `neurender.commands` whose ``COMMANDS`` maps the name to its
options dataclass and the function that runs it, one line of help)."""
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
"""OS errors that are the machine's state, not a failure of ours: exit 2 with one line."""
RESUMING = ("generate", "train", "evaluate", "demo")
"""Commands that, run again after an interruption, go on from where they stopped (the others start over)."""


def _usage(prefix: str = "") -> str:
    names = [name for name in COMMANDS if name.startswith(prefix)]
    width = max(map(len, names))
    lines = [f"usage: neurender {prefix or ''}COMMAND [OPTIONS]   (neurender {prefix}COMMAND --help for its options)",
             "", __doc__.splitlines()[0], "", "commands:"]
    lines += [f"  {name:{width}s}  {COMMANDS[name][1]}" for name in names]
    return "\n".join(lines + ["", "options: --help, --version"])


def _command(argv: list[str]) -> tuple[str, list[str]]:
    """(command name, its arguments) of the command line ``argv``."""
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in COMMANDS:
            return name, argv[words:]
    group = argv[0] + " "
    if any(name.startswith(group) for name in COMMANDS):
        raise InputError(f"neurender {argv[0]}: give one of {', '.join(n[len(group):] for n in COMMANDS if n.startswith(group))}")
    raise InputError(f"unknown command {argv[0]!r}; commands: {', '.join(dict.fromkeys(n.split()[0] for n in COMMANDS))}")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (workers stopped, writes complete or not made) but reported as such."""


def _terminate(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if not argv:
            raise InputError("give a command (neurender --help lists them)")
        if argv[0] in ("-h", "--help"):
            print(_usage())
            return 0
        if argv[0] == "--version":
            print(f"neurender {version('neurender')}")
            return 0
        if len(argv) > 1 and argv[0] + " " + argv[1] not in COMMANDS and argv[1] in ("-h", "--help") \
                and any(n.startswith(argv[0] + " ") for n in COMMANDS):
            print(_usage(argv[0] + " "))
            return 0
        name, rest = _command(argv)
        from neurender.commands.arguments import parse  # tyro: not needed by neurender --help

        module = importlib.import_module(f"neurender.commands.{COMMANDS[name][0]}")
        options, function = module.COMMANDS[name]
        parsed = parse(f"neurender {name}", options, rest)
        return 0 if parsed is None else function(parsed)  # None: the help was asked for
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (neurender ... --help | head): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
        again = "run the same command again" + (" to resume" if argv and argv[0] in RESUMING else "")
        print(f"{'terminated' if isinstance(stop, Terminated) else 'interrupted'}: {again}", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except Exception as exc:  # a failure of ours: one line, the traceback with NEURENDER_DEBUG=1
        if isinstance(exc, OSError) and exc.errno in FULL_DISK:
            print(f"error: {exc.strerror}{f': {exc.filename}' if exc.filename else ''} (free some space, then run "
                  "the same command again)", file=sys.stderr)
            return 2
        if os.environ.get("NEURENDER_DEBUG"):
            raise
        print(f"error: internal failure: {type(exc).__name__}: {exc} (NEURENDER_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
