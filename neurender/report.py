"""`neurender report`: one self-contained page (HTML and Markdown) from evaluation folders.

Per evaluation: a table of every method (SSIM, PSNR, FLIP, MAE on the surfaces, SSIM and PSNR
on the full frame, ms per frame, the path tracer's equal-quality time and the speed-up over it),
a plot of surface SSIM against time per frame with the path tracer's curve, and the image grids. Images are copied next to the page,
so the folder opens in a browser with no server.
"""
from __future__ import annotations

import html
import json
import os
import shutil

from core.errors import InputError


def _load(eval_dir: str) -> dict:
    path = os.path.join(eval_dir, "summary.json")
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputError(f"{eval_dir} is not an evaluation folder (summary.json missing)") from None
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rows(summary: dict) -> list[list[str]]:
    tracer = summary.get("path_tracer", {})
    curve = tracer.get("curve", [])
    rows = []
    for name, m in summary["methods"].items():
        mean, equal = m["mean"], tracer.get("equal_quality_ms", {}).get(name)
        if tracer and equal is None and curve:
            equal_text, speed_text = f"> {curve[-1]['ms']:.1f}", f"> {curve[-1]['ms'] / m['ms_per_frame']:.1f}x"
        else:
            equal_text = _fmt(equal, 1) if tracer else "-"
            speed_text = f"{equal / m['ms_per_frame']:.1f}x" if equal else "-"
        rows.append([name, *_scores(mean, m["mean_full"]), _fmt(m["ms_per_frame"], 1), equal_text, speed_text])
    for point in curve:
        full = {key: point[f"{key}_full"] for key in ("ssim", "psnr")}
        rows.append([f"path tracer {point['spp']} spp", *_scores(point, full), _fmt(point["ms"], 1), "-", "-"])
    return rows


def _scores(masked: dict, full: dict) -> list[str]:
    return [_fmt(masked["ssim"]), _fmt(masked["psnr"], 2), _fmt(masked["flip"]), _fmt(masked["mae"]),
            _fmt(full["ssim"]), _fmt(full["psnr"], 2)]


HEADER = ["method", "SSIM", "PSNR", "FLIP", "MAE", "SSIM full frame", "PSNR full frame", "ms/frame",
          "path tracer at equal SSIM (ms)", "speed-up"]


def _plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    curve = summary.get("path_tracer", {}).get("curve", [])
    if curve:
        ax.plot([p["ms"] for p in curve], [p["ssim"] for p in curve], "o-", color="black", label="path tracer")
        for p in curve:
            ax.annotate(f"{p['spp']} spp", (p["ms"], p["ssim"]), fontsize=7, xytext=(3, -8), textcoords="offset points")
    for name, m in summary["methods"].items():
        if m["mean"]["ssim"] is not None:
            ax.plot(m["ms_per_frame"], m["mean"]["ssim"], "s", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("time per frame (ms, log scale)")
    ax.set_ylabel("SSIM on the surfaces (mask) against the reference")
    ax.set_title(f"{summary['effect']}: quality against time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(eval_dirs: list[str], out_dir: str) -> str:
    """Write ``out_dir``/index.html and report.md from ``eval_dirs``; returns the HTML path."""
    if not eval_dirs:
        raise InputError("give at least one evaluation folder")
    summaries = [(d, _load(d)) for d in eval_dirs]
    images = os.path.join(out_dir, "images")
    os.makedirs(images, exist_ok=True)
    html_parts = ["<!doctype html><html><head><meta charset='utf-8'><title>neurender report</title>",
                  "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
                  "img{max-width:100%}</style></head><body><h1>neurender report</h1>",
                  "<p>Metrics against the path-traced reference (tone-mapped for fog and GI), on the surfaces "
                  "(mask.Y &gt; 0.5) unless marked full frame: off the mask every method is given the same values, "
                  "so full-frame figures mostly reward how much background a view shows. Equal-quality "
                  "time: milliseconds of path tracing (at increasing spp) whose surface SSIM matches the method's.</p>"]
    markdown = ["# neurender report", ""]
    for index, (eval_dir, summary) in enumerate(summaries):
        prefix = f"{index:02d}_{summary['effect']}"
        title = f"{summary['effect']}: {summary['views']} views of {', '.join(summary['scenes'])} ({summary['split']})"
        plot = f"images/{prefix}_quality_time.png"
        _plot(summary, os.path.join(out_dir, plot))
        rows = _rows(summary)
        if summary["empty_mask_views"]:
            title += f"; {len(summary['empty_mask_views'])} with an empty mask left out of the surface figures"
        html_parts += [f"<h2>{html.escape(title)}</h2>", "<table><tr>"
                       + "".join(f"<th>{html.escape(h)}</th>" for h in HEADER) + "</tr>"]
        html_parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        html_parts += ["</table>", f"<p><img src='{plot}' alt='quality against time'></p>"]
        markdown += [f"## {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        markdown += ["| " + " | ".join(row) + " |" for row in rows]
        markdown += ["", f"![quality against time]({plot})", ""]
        for grid in summary.get("grids", []):
            name = f"images/{prefix}_{os.path.basename(grid)}"
            shutil.copyfile(os.path.join(eval_dir, grid), os.path.join(out_dir, name))
            html_parts.append(f"<p><img src='{name}' alt='{html.escape(grid)}'></p>")
            markdown.append(f"![{grid}]({name})")
        markdown.append("")
    html_parts.append("</body></html>")
    page = os.path.join(out_dir, "index.html")
    with open(page, "w") as handle:
        handle.write("\n".join(html_parts))
    with open(os.path.join(out_dir, "report.md"), "w") as handle:
        handle.write("\n".join(markdown))
    return page
