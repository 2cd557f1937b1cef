"""The form JupyterLab writes a notebook in, so that opening and saving a committed one changes nothing.

JupyterLab rewrites three things when it opens a notebook and starts its kernel, and autosave then
writes them back even if nobody edited a cell:

- ``metadata.kernelspec.display_name`` becomes the installed kernel's name, "Python 3 (ipykernel)";
- ``metadata.language_info`` becomes the kernel's full ``language_info`` (codemirror mode, lexer,
  Python version, ...);
- consecutive stream outputs of the same name (two ``print`` calls, one ``stdout`` block) are shown
  and saved as one output;
- the notebook passes through the browser's JSON, so a whole-valued float such as a widget's saved
  ``"max": 8.0`` comes back as ``8``.

It also collapses the outputs of the cells that reveal a prediction's answer (:func:`reveal_cells`,
JupyterLab's ``jupyter.outputs_hidden``, and the ``collapsed`` flag it writes beside it): a reader browsing the committed notebook can expand them,
a learner doing the exercise commits to a number first. And it drops the per-cell ``execution`` timestamps that ``jupyter execute`` records (JupyterLab
keeps them but never writes them by default), so re-running a notebook changes only what it shows.

``normalise`` applies the same three rewrites; ``make notebooks`` runs it after executing, and
``tests/test_notebook_form.py`` checks every committed notebook is already in this form.

    python -m tools.notebook_form notebooks/*.ipynb          # rewrite in place (atomically)
    python -m tools.notebook_form --check notebooks/*.ipynb  # exit 1 and name the files that differ
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from ddpm_lib.files import atomic_write_text

KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def language_info() -> dict[str, Any]:
    """The ``language_info`` the IPython kernel of this interpreter reports (ipykernel's own dict)."""
    from ipykernel.ipkernel import IPythonKernel

    out: dict[str, Any] = json.loads(json.dumps(IPythonKernel.language_info))
    return out


def merge_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive ``stream`` outputs with the same ``name`` into one, as JupyterLab does."""
    merged: list[dict[str, Any]] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = _text(previous["text"]) + _text(output["text"])
            continue
        merged.append(dict(output))
    return merged


def _text(text: str | list[str]) -> str:
    return text if isinstance(text, str) else "".join(text)


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (nbformat stores it as a string or a list of lines)."""
    return _text(cell.get("source", ""))


def javascript_numbers(value: Any) -> Any:
    """``value`` with every whole-valued float turned into an int, as ``JSON.stringify`` writes it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: javascript_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [javascript_numbers(item) for item in value]
    return value


PREDICTION = re.compile(r"^(predicted_\w+) = None\b")


def reveal_cells(cells: list[dict[str, Any]]) -> list[int]:
    """Indices of the code cells that reveal a prediction's answer: after each cell that opens with
    ``predicted_x = None``, every code cell up to the one that checks ``predicted_x`` with the tutor, except
    a cell that only calls the check (its untouched output states the task and reveals nothing)."""
    out: list[int] = []
    for i, cell in enumerate(cells):
        match = PREDICTION.match(cell_source(cell)) if cell.get("cell_type") == "code" else None
        if match is None:
            continue
        for j in range(i + 1, len(cells)):
            source = cell_source(cells[j])
            if cells[j].get("cell_type") != "code":
                continue
            if not source.startswith("tutor.check("):
                out.append(j)
            if "tutor.check(" in source and match.group(1) in source:
                break
    return out


def normalise(notebook: dict[str, Any], *, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The notebook as JupyterLab would save it (a new dict; the input is not modified)."""
    nb = javascript_numbers(json.loads(json.dumps(notebook)))
    meta = nb.setdefault("metadata", {})
    meta["kernelspec"] = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
    meta["language_info"] = info if info is not None else language_info()
    for index in reveal_cells(nb.get("cells", [])):  # collapsed, in both the forms JupyterLab writes it
        meta = nb["cells"][index].setdefault("metadata", {})
        meta["collapsed"] = True
        meta.setdefault("jupyter", {})["outputs_hidden"] = True
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = merge_streams(cell.get("outputs", []))
            for output in cell["outputs"]:  # a widget's text fallback, HBox(children=...), is noise to a reader
                if WIDGET_VIEW in output.get("data", {}):
                    output["data"].pop("text/plain", None)
    out: dict[str, Any] = nb
    return out


def dumps(notebook: dict[str, Any]) -> str:
    """Serialise exactly as the Jupyter server saves: ``nbformat.writes`` (sorted keys, one-space
    indent, UTF-8, multi-line strings split into lists of lines) plus a final newline."""
    import nbformat

    out: str = nbformat.writes(nbformat.from_dict(notebook), version=4) + "\n"
    return out


def save(path: Path, notebook: dict[str, Any], *, info: dict[str, Any] | None = None) -> bool:
    """Write ``notebook`` to ``path`` in JupyterLab's form, atomically, unless the file already holds
    exactly that; return whether it wrote."""
    wanted = dumps(normalise(notebook, info=info))
    if path.is_file() and path.read_text(encoding="utf-8") == wanted:
        return False
    atomic_write_text(path, wanted)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_form", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report notebooks not in JupyterLab's form; write nothing")
    args = parser.parse_args(argv)
    info = language_info()
    differ = []
    for path in args.notebooks:
        try:
            text = path.read_text(encoding="utf-8")
            notebook = json.loads(text)
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"{path}: cannot read a notebook ({err}); pass .ipynb files")
        if args.check:
            if dumps(normalise(notebook, info=info)) != text:
                differ.append(path)
        elif save(path, notebook, info=info):
            differ.append(path)
    verb = "differ from" if args.check else "rewritten to"
    for path in differ:
        print(f"{path}: {verb} JupyterLab's form", file=sys.stderr if args.check else sys.stdout)
    if args.check and differ:
        print("fix: python -m tools.notebook_form notebooks/*.ipynb", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
