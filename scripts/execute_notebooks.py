"""Run notebooks top to bottom at their default settings and save them with their outputs (the docs site and
a code host show those). Usage: .venv/bin/python scripts/execute_notebooks.py [NOTEBOOK.ipynb ...] (default:
every notebook of docs/notebooks); each runs in a temporary folder, which is removed afterwards.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "docs" / "notebooks"


def main(paths: list[str]) -> None:
    for path in paths or sorted(map(str, NOTEBOOKS.glob("*.ipynb"))):
        notebook = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory() as work:
            nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": work}}).execute()
        nbformat.write(notebook, path)
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
