"""Sphinx configuration of the course website (``make book``; ``tools/book.py`` runs it).

The source folder is the repository root, read through ``include_patterns``: the README is the front
page, then the notebooks in course order with their committed ``cpu``-preset outputs (never
executed here), the concept map and ``docs/``. MathJax is a local copy (``tools/book.py`` vendors it
into ``html_static_path``), widgets render as the static pictures their cells leave, and
:func:`for_the_page` adapts each notebook for reading: a link to the notebook and how to run it,
collapsed reveal cells kept collapsed, untouched exercise feedback left out.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

project = "Diffusion from Scratch"
author = "Diffusion from Scratch contributors"
copyright = "Diffusion from Scratch contributors"
root_doc = "README"
NOTEBOOKS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REFERENCE = ["docs/glossary", "notebooks/README", "docs/samplers", "docs/results", "docs/latent",
             "docs/scaling", "docs/speed", "docs/presenting"]
include_patterns = ["README.md", "docs/*.md", "notebooks/README.md", "notebooks/[0-9][0-9]_*.ipynb"]
exclude_patterns = ["build", ".venv", ".git"]

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"
nb_render_markdown_format = "myst"                        # Markdown outputs may hold $maths$
nb_ipywidgets_js: dict[str, dict[str, str]] = {}          # no widget manager from a CDN

html_theme = "furo"
html_title = project
html_static_path: list[str] = []                          # tools/book.py adds the MathJax copy
html_copy_source = False
html_show_sourcelink = False
html_show_search_summary = False    # summaries are fetched page by page, which file:// forbids
MATHJAX_FOLDER = "mathjax-2.7.9"
mathjax_path = f"{MATHJAX_FOLDER}/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
# myst marks each page's top section tex2jax_ignore and the maths nodes "math"; its own fix-up targets
# MathJax 3 and 4 only, so MathJax 2 gets the same classes here.
myst_update_mathjax = False
mathjax2_config = {"showMathMenu": False, "messageStyle": "none",
                   "tex2jax": {"processClass": "tex2jax_process|mathjax_process|math|output_area",
                               "ignoreClass": "tex2jax_ignore|mathjax_ignore|document"}}

#: The tag myst-nb reads to fold a cell's outputs behind a "show" toggle.
HIDE_OUTPUT = "hide-output"
WIDGET = "application/vnd.jupyter.widget-view+json"


def toctree(caption: str, entries: list[str]) -> str:
    lines = "\n".join(entries)
    return f"\n\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n{lines}\n```\n"


def off_the_page(output: dict[str, Any]) -> bool:
    """A live widget's view (the cell's static picture stays) or an exercise or concept check's output
    before any attempt: noise on a static page."""
    data = output.get("data", {})
    plain = "".join(data.get("text/plain", ""))
    return WIDGET in data or plain.startswith("CheckResult(") and "state='not attempted'" in plain


def for_the_page(notebook: dict[str, Any], name: str) -> dict[str, Any]:
    """The notebook as its web page shows it; the file on disk is untouched."""
    cells = notebook["cells"]
    for cell in cells:
        if cell.get("metadata", {}).get("jupyter", {}).get("outputs_hidden"):
            cell["metadata"].setdefault("tags", []).append(HIDE_OUTPUT)
        if cell["cell_type"] == "code":
            cell["outputs"] = [o for o in cell["outputs"] if not off_the_page(o)]
    where = (f"*This page is the notebook {{download}}`{name}.ipynb <{name}.ipynb>` with the outputs of a run "
             f"with the `cpu` preset. To run it yourself, follow [Start](../README.md#start) and open "
             f"`notebooks/{name}.ipynb` in JupyterLab (`make lab`).*")
    cells.insert(1, {"cell_type": "markdown", "id": "where-to-run", "metadata": {}, "source": where})
    return notebook


def on_source_read(app: Any, docname: str, source: list[str]) -> None:
    if docname == root_doc:
        source[0] += toctree("Notebooks", [f"notebooks/{n}" for n in NOTEBOOKS]) + toctree("Reference", REFERENCE)
    elif docname.startswith("notebooks/") and docname.split("/")[1] in NOTEBOOKS:
        source[0] = json.dumps(for_the_page(json.loads(source[0]), docname.split("/")[1]))


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", on_source_read)
    return {"parallel_read_safe": True}
