"""`neurender report`: one page from evaluation folders, as a self-contained HTML file (its images
embedded) and as Markdown (its images in the same folder).

Per evaluation: first the answer to "which method at my budget" (`budget_rows`: for each time
per frame, the method within it closest to the reference, path tracing included), then a table of
every method (SSIM, PSNR, FLIP, MAE on the surfaces, SSIM and PSNR
on the full frame, the temporal warped error on camera paths, ms per frame, the equal-quality time of the path
tracer and of path tracing +
OIDN and the speed-up over each; a method above the reference's noise floor is marked), the
curves' points and the noise floor, a plot of surface SSIM against time per frame with both
curves and the floor as a line, and the image grids. ``index.html`` holds its images (PNG data
URIs): it can be mailed or moved alone; ``report.md`` links the copies in ``images/``.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil

from neurender.base.errors import InputError


def load_summary(eval_dir: str) -> dict:
    """The summary.json of an evaluation folder; InputError when missing, not JSON or not a summary."""
    path = os.path.join(eval_dir, "summary.json")
    try:
        with open(path, "rb") as handle:
            summary = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"{eval_dir} is not an evaluation folder (summary.json missing)") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not valid JSON: {' '.join(str(exc).split())[:160]}") from None
    methods = summary.get("methods") if isinstance(summary, dict) else None
    if not (isinstance(summary, dict) and isinstance(summary.get("effect"), str) and isinstance(methods, dict)
            and all(isinstance(m, dict) and {"mean", "mean_full", "ms_per_frame"} <= set(m) for m in methods.values())):
        raise InputError(f"{path} is not an evaluation summary (effect, methods with mean, mean_full, ms_per_frame)")
    return summary


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


ABOVE_FLOOR = " (above the noise floor)"
CURVES = (("path_tracer", "path tracer"), ("pt_oidn", "PT + OIDN"))  # summary.json key, label
CURVES_SUMMARY = "The path tracer and PT + OIDN at each spp (the curves the equal-quality times are read on)"
BUDGETS_MS = ((16.7, "16.7 ms (60 fps)"), (33.3, "33.3 ms (30 fps)"), (100.0, "100 ms"), (1000.0, "1 s"),
              (10000.0, "10 s"), (float("inf"), "no limit"))
"""The time budgets per frame of the decision table."""


def candidates(summary: dict) -> list[tuple[str, dict, float]]:
    """(name, surface metrics, ms per frame) of every method and every point of the path-tracing curves."""
    found = [(name, m["mean"], m["ms_per_frame"]) for name, m in summary["methods"].items()]
    for key, label in CURVES:
        found += [(f"{label} {p['spp']} spp", p, p["ms"]) for p in summary.get(key, {}).get("curve", [])]
    return [c for c in found if c[1]["flip"] is not None]


def load_bench(path: str) -> dict:
    """The record `neurender bench compare --out FILE` writes (device, threads, rows); InputError otherwise."""
    try:
        with open(path) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise InputError(f"--bench {path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"--bench {path} is not valid JSON: {' '.join(str(exc).split())[:160]}") from None
    rows = record.get("rows") if isinstance(record, dict) else None
    keys = {"effect", "method", "size", "frame", "method_ms", "path_tracer", "pt_oidn"}
    if not isinstance(rows, list) or not all(isinstance(r, dict) and keys <= set(r) for r in rows):
        raise InputError(f"--bench {path} is not a bench compare file (neurender bench compare --out FILE)")
    return record


def sized_candidates(summary: dict, rows: list[dict]) -> list[tuple[str, dict, float]]:
    """`candidates` at the frame size of bench compare ``rows`` (one size, this summary's effect): each
    method the summary scored at the time the bench measured, and the path tracer's and PT + OIDN's
    points the bench timed at that size, with their quality from the summary's curves."""
    found = {}
    for row in rows:
        if row["method"] in summary["methods"] and row["method_ms"] is not None:
            found[row["method"]] = (row["method"], summary["methods"][row["method"]]["mean"], row["method_ms"])
        for key, label in CURVES:
            timed = row[key] or {}
            point = next((p for p in summary.get(key, {}).get("curve", []) if p["spp"] == timed.get("spp")), None)
            if point is not None and timed.get("ms") is not None:
                found[f"{label} {point['spp']} spp"] = (f"{label} {point['spp']} spp", point, timed["ms"])
    return [c for c in found.values() if c[1]["flip"] is not None]


def sized_budgets(summary: dict, bench: list[dict]) -> list[tuple[str, list[list[str]]]]:
    """(heading, `budget_rows`) per frame size of the bench compare records ``bench`` (`load_bench`) that
    timed this summary's effect."""
    tables = []
    for record in bench:
        rows = [r for r in record["rows"] if r["effect"] == summary["effect"]]
        for size in dict.fromkeys(r["size"] for r in rows):
            at = [r for r in rows if r["size"] == size]
            height, width = at[0]["frame"]
            tables.append((f"Which method at your budget at {width}x{height} (times: `neurender bench compare`, "
                           f"{record.get('device', 'cpu')}, {record.get('threads', '?')} threads; the path tracer "
                           "at the spp it timed: those matching a method)",
                           budget_rows(summary, sized_candidates(summary, at))))
    return tables


def budget_rows(summary: dict, found: list[tuple[str, dict, float]] | None = None) -> list[list[str]]:
    """For each budget of `BUDGETS_MS`, the candidate (``found``, default `candidates`) within it with the
    lowest FLIP (the perceptual error; ties: the higher PSNR) as table cells: budget, method, SSIM, PSNR,
    FLIP, ms; "-" when none fits."""
    found = candidates(summary) if found is None else found
    rows = []
    for budget, label in BUDGETS_MS:
        fitting = [c for c in found if c[2] <= budget]
        if not fitting:
            rows.append([label, "none this fast", "-", "-", "-", "-"])
            continue
        name, mean, ms = min(fitting, key=lambda c: (c[1]["flip"], -c[1]["psnr"]))
        rows.append([label, name, _fmt(mean["ssim"]), _fmt(mean["psnr"], 2), _fmt(mean["flip"]), _fmt(ms, 1)])
    return rows


BUDGET_HEADER = ["time per frame", "best method within it (lowest FLIP)", "SSIM", "PSNR", "FLIP", "ms/frame"]


def timing_note(summary: dict) -> str:
    """Where and at what size the times were taken (summaries before the ``timing`` record: unknown)."""
    timing = summary.get("timing")
    if not timing:
        return "Times: frame size and machine not recorded (evaluated before neurender recorded them)."
    height, width = timing["frame"]
    return (f"Times per frame at {width}x{height} px on {timing['device']} ({timing['cpu']}, {timing['threads']} "
            "CPU threads): warm; a method's figure is its mean over the views, with the quartiles in brackets. "
            "Times grow with the pixel count: `neurender bench compare --sizes 1080p` times the same methods at "
            "1920x1080.")


def _equal(summary: dict, key: str, name: str, ms_per_frame: float) -> list[str]:
    """Equal-quality time on curve ``key`` and the speed-up, as table cells ("-" without the curve)."""
    tracer = summary.get(key)
    if not tracer:
        return ["-", "-"]
    equal, last = tracer["equal_quality_ms"][name], tracer["curve"][-1]["ms"]
    if equal is None:  # the curve never reaches the method's quality
        return [f"> {last:.1f}", f"> {_speedup(last / ms_per_frame)}" if last >= ms_per_frame else "not reached"]
    return [_fmt(equal, 1), _speedup(equal / ms_per_frame)]


def _speedup(ratio: float) -> str:
    """A time ratio (path tracer / method) as "N.Nx", or "N.Nx slower" below 1."""
    return f"{ratio:.1f}x" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


def _ms(m: dict) -> str:
    """A method's ms per frame, with its quartiles over the views when the summary has them."""
    spread = m.get("ms_quartiles")
    return _fmt(m["ms_per_frame"], 1) + (f" ({spread[0]:.1f}-{spread[1]:.1f})" if spread else "")


def _rows(summary: dict) -> list[list[str]]:
    above = summary.get("noise_floor", {}).get("methods_above", [])
    rows = []
    for name, m in summary["methods"].items():
        label = name + (ABOVE_FLOOR if name in above else "")
        rows.append([label, *_scores(m["mean"], m["mean_full"], m.get("temporal")), _ms(m),
                     *_equal(summary, "path_tracer", name, m["ms_per_frame"]),
                     *_equal(summary, "pt_oidn", name, m["ms_per_frame"])])
    if "noise_floor" in summary:
        floor = summary["noise_floor"]
        rows.append([f"noise floor: the reference rendered again ({floor['spp']} spp)",
                     *_scores(floor, _full(floor), floor.get("temporal")), _fmt(floor["ms"], 1)] + ["-"] * 4)
    return rows


def _curve_rows(summary: dict) -> list[list[str]]:
    """The path tracer's and PT + OIDN's points, one row per spp."""
    return [[f"{label} {point['spp']} spp", *_scores(point, _full(point), point.get("temporal")), _fmt(point["ms"], 1)]
            for key, label in CURVES for point in summary.get(key, {}).get("curve", [])]


def _uncertainty(summary: dict) -> list[str]:
    """One sentence per method whose summary has ``uncertainty`` (diffusion with several draws)."""
    return [f"Uncertainty of {name} ({u['sampler']} sampler, {u['samples']} draws of {u['steps']} steps): "
            f"Spearman(std, |error|) "
            f"{_fmt(u['spearman'])}, share of surface values within 2 std {_fmt(u['coverage_2std'])} "
            "(0.954 for a calibrated Gaussian)."
            for name, m in summary["methods"].items() if (u := m.get("uncertainty"))]


def _full(point: dict) -> dict:
    return {key: point[f"{key}_full"] for key in ("ssim", "psnr")}


def _scores(masked: dict, full: dict, temporal: dict | None) -> list[str]:
    return [_fmt(masked["ssim"]), _fmt(masked["psnr"], 2), _fmt(masked["flip"]), _fmt(masked["mae"]),
            _fmt(full["ssim"]), _fmt(full["psnr"], 2), _fmt(temporal["twe"], 4) if temporal else "-"]


HEADER = ["method", "SSIM", "PSNR", "FLIP", "MAE", "SSIM full frame", "PSNR full frame",
          "tWE (camera paths)", "ms/frame",
          "path tracer at equal quality (ms)", "speed-up over path tracer",
          "PT + OIDN at equal quality (ms)", "speed-up over PT + OIDN"]


def _plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = (("ssim", "SSIM"), ("psnr", "PSNR (dB)"), ("flip", "FLIP (lower is better)"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4), dpi=100)
    for ax, (metric, label) in zip(axes, metrics):
        for (key, name), color in zip(CURVES, ("black", "tab:gray")):
            curve = summary.get(key, {}).get("curve", [])
            if curve:
                ax.plot([p["ms"] for p in curve], [p[metric] for p in curve], "o-", color=color,
                        label=f"{name} ({curve[0]['spp']} to {curve[-1]['spp']} spp)")
        if summary.get("noise_floor", {}).get(metric) is not None:
            ax.axhline(summary["noise_floor"][metric], color="tab:red", linestyle="--",
                       label=f"noise floor (reference again, {summary['noise_floor']['spp']} spp)")
        for name, m in summary["methods"].items():
            if m["mean"][metric] is not None:
                ax.plot(m["ms_per_frame"], m["mean"][metric], "s", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("time per frame (ms, log scale)")
        ax.set_ylabel(f"{label} on the surfaces (mask)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(f"{summary['effect']}: quality against time")
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(labels) - 1) // 4), 1, 1))  # the legend's rows below the axes
    fig.savefig(path)
    plt.close(fig)


def _tables(summary: dict) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of the every-method table and of the curves' table (empty without a path tracer);
    without the tWE column when nothing was on a camera path."""
    tables = [(HEADER, _rows(summary)), (HEADER[:HEADER.index("ms/frame") + 1], _curve_rows(summary))]
    if "temporal" in summary:
        return tables
    drop = HEADER.index("tWE (camera paths)")
    return [([h for i, h in enumerate(header) if i != drop], [[c for i, c in enumerate(r) if i != drop] for r in rows])
            for header, rows in tables]


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</table>")


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _title(summary: dict) -> str:
    title = f"{summary['effect']}: {summary['views']} views of {', '.join(summary['scenes'])} ({summary['split']})"
    if summary["empty_mask_views"]:
        title += f"; {len(summary['empty_mask_views'])} with an empty mask left out of the surface figures"
    return title


def _notes(summary: dict) -> list[str]:
    return [timing_note(summary), *_uncertainty(summary)]


def markdown_section(summary: dict, plot: str | None = None, bench: list[dict] = ()) -> list[str]:
    """The report's Markdown lines of one evaluation's summary: its title, the method at each budget (at
    the evaluated size, then at each size of the bench compare records ``bench``), every method, the path
    tracer's curves (folded) and the notes (then the quality-against-time plot at path ``plot``, when given)."""
    (header, rows), (curve_header, curve_rows) = _tables(summary)
    curves = ["<details markdown=\"1\"><summary>" + CURVES_SUMMARY + "</summary>", "", *_markdown_table(curve_header, curve_rows),
              "", "</details>", ""] if curve_rows else []
    sized = [line for heading, table in sized_budgets(summary, bench)
             for line in (f"### {heading}", "", *_markdown_table(BUDGET_HEADER, table), "")]
    return [f"## {_title(summary)}", "", "### Which method at your budget", "",
            *_markdown_table(BUDGET_HEADER, budget_rows(summary)), "", *sized, "### Every method", "",
            *_markdown_table(header, rows), "", *curves, *(f"{note}\n" for note in _notes(summary)),
            *([f"![quality against time]({plot})", ""] if plot else [])]


def _inline_code(text: str) -> str:
    """Escaped HTML ``text`` with its Markdown `code` spans as <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _embedded(path: str) -> str:
    """The PNG file ``path`` as a data URI (an <img> source that needs no file beside the page)."""
    with open(path, "rb") as handle:
        return "data:image/png;base64," + base64.b64encode(handle.read()).decode("ascii")


def report(eval_dirs: list[str], out_dir: str, bench: list[str] = ()) -> str:
    """Write ``out_dir``/index.html (self-contained) and report.md (with ``out_dir``/images) from
    ``eval_dirs``, with a budget table per frame size of the ``bench`` files (`neurender bench compare
    --out`); returns the HTML path."""
    if not eval_dirs:
        raise InputError("give at least one evaluation folder")
    summaries = [(d, load_summary(d)) for d in eval_dirs]
    timed = [load_bench(path) for path in bench]
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"--out {out_dir} is a file, not a folder")
    images = os.path.join(out_dir, "images")
    os.makedirs(images, exist_ok=True)
    html_parts = ["<!doctype html><html><head><meta charset='utf-8'><title>neurender report</title>",
                  "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
                  "img{max-width:100%}</style></head><body><h1>neurender report</h1>",
                  "<p>Each effect starts with the decision: for a time per frame, the method within it whose "
                  "surface FLIP (the perceptual error) is lowest, path tracing and path tracing + OIDN at each "
                  "spp included. Then every method.</p>",
                  "<p>Metrics against the path-traced reference (tone-mapped for fog and GI), on the surfaces "
                  "(mask.Y &gt; 0.5) unless marked full frame: off the mask every method is given the same values, "
                  "so full-frame figures mostly reward how much background a view shows. Equal-quality "
                  "time: milliseconds of path tracing (at increasing spp; raw, or denoised by OIDN with the "
                  "denoiser's time added; warm timings) whose surface SSIM, PSNR and FLIP all match the method's "
                  "(the longest of the three times; summary.json has each). Noise floor: the reference pass "
                  "rendered again with other seeds at the reference's spp; a method above it is beyond what "
                  "the reference can tell (marked). tWE, on datasets rendered along a camera path: the mean over "
                  "consecutive frames of |(P_t - W(P_t-1)) - (R_t - W(R_t-1))|, W the exact reprojection of the "
                  "previous frame by depth and cameras, disocclusions left out; 0 for a method that changes from "
                  "frame to frame exactly as the reference does (the noise floor's row is the reference's own "
                  "flicker against an independent copy).</p>"]
    markdown = ["# neurender report", ""]
    for index, (eval_dir, summary) in enumerate(summaries):
        prefix = f"{index:02d}_{summary['effect']}"
        plot = f"images/{prefix}_quality_time.png"
        _plot(summary, os.path.join(out_dir, plot))
        (header, rows), (curve_header, curve_rows) = _tables(summary)
        curves = [f"<details><summary>{CURVES_SUMMARY}</summary>{_html_table(curve_header, curve_rows)}</details>"
                  ] if curve_rows else []
        sized = [part for heading, table in sized_budgets(summary, timed)
                 for part in (f"<h3>{_inline_code(html.escape(heading))}</h3>", _html_table(BUDGET_HEADER, table))]
        html_parts += [f"<h2>{html.escape(_title(summary))}</h2>", "<h3>Which method at your budget</h3>",
                       _html_table(BUDGET_HEADER, budget_rows(summary)), *sized, "<h3>Every method</h3>",
                       _html_table(header, rows), *curves, *(f"<p>{_inline_code(html.escape(n))}</p>" for n in _notes(summary)),
                       f"<p><img src='{_embedded(os.path.join(out_dir, plot))}' alt='quality against time'></p>"]
        markdown += markdown_section(summary, plot, timed)
        for grid in summary.get("grids", []):
            name = f"images/{prefix}_{os.path.basename(grid)}"
            shutil.copyfile(os.path.join(eval_dir, grid), os.path.join(out_dir, name))
            html_parts.append(f"<p><img src='{_embedded(os.path.join(out_dir, name))}' alt='{html.escape(grid)}'></p>")
            markdown.append(f"![{grid}]({name})")
        markdown.append("")
    html_parts.append("</body></html>")
    page = os.path.join(out_dir, "index.html")
    with open(page, "w") as handle:
        handle.write("\n".join(html_parts))
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(markdown))
    return page
