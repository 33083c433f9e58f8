"""The documentation site builds with --strict (broken links, missing pages and bad API references
fail), its API reference is rendered from the docstrings, and the README stays short with live links."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from nr_helpers import REPO


def test_the_docs_site_builds_strict_with_the_api_reference(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = (tmp_path / "site" / "python" / "index.html").read_text()
    assert "from_pretrained" in api and "reprojection" in api and "to_contract" in api
    import neurender

    for name in neurender.__all__:  # each public name under its own heading, with its signature
        assert re.search(rf'class="doc doc-heading"[^>]*>\s*(<[^>]+>\s*)*{name}\b', api), name
    assert api.count('class="doc-signature') >= 8
    assert not re.search(r":(class|func|mod|meth|attr|data):", api), "a Sphinx role left raw"
    card = (tmp_path / "site" / "cards" / "ao" / "index.html").read_text()
    assert "Held-out evaluation" in card  # the card itself, included from neurender/pretrained/ao
    for notebook in sorted((REPO / "docs" / "notebooks").glob("*.ipynb")):  # rendered with their saved outputs
        page = (tmp_path / "site" / "notebooks" / notebook.stem / "index.html").read_text()
        assert "from neurender import" in page and "data:image/png;base64," in page, notebook.name


def test_the_readme_is_short_and_its_links_exist():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    links = re.findall(r"\]\(([^)#]+)", text)
    assert links and not [link for link in links if not (REPO / link).exists()]
