"""The committed notebooks are in the form JupyterLab saves, so opening one leaves ``git diff`` empty."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tools import notebook_form
from tools.notebook_form import dumps, javascript_numbers, merge_streams, normalise

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _stream(name: str, text: str | list[str]) -> dict[str, Any]:
    return {"name": name, "output_type": "stream", "text": text}


def _notebook(outputs: list[dict[str, Any]], **meta: object) -> dict[str, Any]:
    cell = {"cell_type": "code", "execution_count": 1, "id": "a1", "metadata": {}, "outputs": outputs,
            "source": "print(1)"}
    return {"cells": [cell], "metadata": dict(meta), "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_in_jupyterlab_form(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    # The Python version inside language_info is the one machine-specific field: keep the file's.
    info = dict(notebook_form.language_info(), version=notebook["metadata"]["language_info"]["version"])
    assert dumps(normalise(notebook, info=info)) == text, (
        f"{path.name} is not in the form JupyterLab saves; fix: python -m tools.notebook_form notebooks/*.ipynb")
    assert notebook["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"


def test_merge_streams_joins_runs_of_one_stream_only() -> None:
    image = {"output_type": "display_data", "data": {"text/plain": ["<Figure>"]}, "metadata": {}}
    outputs = [_stream("stdout", ["a\n", "b\n"]), _stream("stdout", "c\n"), _stream("stderr", "w\n"),
               _stream("stdout", "d"), image, _stream("stdout", "e\n")]
    merged = merge_streams(outputs)
    assert [o.get("name") for o in merged] == ["stdout", "stderr", "stdout", None, "stdout"]
    assert merged[0]["text"] == "a\nb\nc\n"
    assert merged[2]["text"] == "d" and merged[4]["text"] == "e\n"
    assert outputs[0]["text"] == ["a\n", "b\n"], "the input list must not be modified"


def test_javascript_numbers_turns_whole_floats_into_ints_only() -> None:
    state = {"max": 8.0, "step": 0.5, "value": [3.0, -2.0, 1e-7], "flag": True, "name": "w", "n": 4}
    assert javascript_numbers(state) == {"max": 8, "step": 0.5, "value": [3, -2, 1e-7], "flag": True,
                                         "name": "w", "n": 4}
    assert type(javascript_numbers(8.0)) is int and javascript_numbers(True) is True


def test_normalise_sets_kernel_and_language_info_and_is_idempotent() -> None:
    nb = _notebook([_stream("stdout", "x\n"), _stream("stdout", "y\n")],
                   kernelspec={"display_name": "Python 3", "language": "python", "name": "python3"},
                   language_info={"name": "python"})
    once = normalise(nb)
    assert once["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert once["metadata"]["language_info"]["pygments_lexer"] == "ipython3"
    assert once["metadata"]["language_info"]["codemirror_mode"] == {"name": "ipython", "version": 3}
    assert len(once["cells"][0]["outputs"]) == 1
    assert dumps(normalise(json.loads(dumps(once)))) == dumps(once)
    assert nb["metadata"]["kernelspec"]["display_name"] == "Python 3", "the input must not be modified"
    assert json.loads(dumps(once))["cells"][0]["outputs"][0]["text"] == ["x\n", "y\n"]


def test_normalise_drops_execution_timestamps_only() -> None:
    nb = _notebook([])
    nb["cells"][0]["metadata"] = {"execution": {"iopub.status.idle": "2026-11-22T08:09:49Z"}, "tags": ["x"]}
    assert normalise(nb)["cells"][0]["metadata"] == {"tags": ["x"]}


def test_check_mode_names_the_file_and_the_fix_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.ipynb"
    original = json.dumps(_notebook([_stream("stdout", "x\n")], kernelspec={"display_name": "Python 3"}))
    path.write_text(original, encoding="utf-8")
    assert notebook_form.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: differ from JupyterLab's form" in err and "fix: python -m tools.notebook_form" in err
    assert path.read_text(encoding="utf-8") == original
    assert notebook_form.main([str(path)]) == 0
    assert notebook_form.main(["--check", str(path)]) == 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_writes_jupyterlabs_form_only_when_it_differs(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    nb = _notebook([_stream("stdout", "x\n"), _stream("stdout", "y\n")], kernelspec={"display_name": "Python 3"})
    assert notebook_form.save(path, nb) is True
    assert json.loads(path.read_text(encoding="utf-8"))["metadata"]["kernelspec"]["display_name"] == \
        "Python 3 (ipykernel)"
    stamp = path.stat().st_mtime_ns
    assert notebook_form.save(path, json.loads(path.read_text(encoding="utf-8"))) is False
    assert path.stat().st_mtime_ns == stamp and not list(tmp_path.glob(".*.tmp"))


def test_a_file_that_is_not_a_notebook_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        notebook_form.main([str(path)])
    assert exit_info.value.code == 2
    assert f"{path}: cannot read a notebook" in capsys.readouterr().err


CODE_LINE = re.compile(r"^\s*(import \w|from [\w.]+ import |def \w+\(|class \w+[(:]|print\(|display\(|for \w+ in .*:$|"
                       r"[A-Za-z_]\w*(\[[^\]]*\])? = )")


def code_lines_in_markdown(source: str) -> list[str]:
    """Lines of a markdown cell that read as Python statements, outside ``` fences (a learner would see raw code)."""
    outside = re.sub(r"```.*?```", "", source, flags=re.S)
    return [line for line in outside.splitlines() if CODE_LINE.match(line)]


def test_code_in_markdown_is_recognised() -> None:
    assert code_lines_in_markdown("losses = [v for _, v in h]\ndisplay(Markdown(text))") == [
        "losses = [v for _, v in h]", "display(Markdown(text))"]
    assert code_lines_in_markdown("The loss $L = E[...]$ falls.\n```python\nx = 1\n```\n- a list item") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_what_a_learner_reads_holds_no_raw_code_and_no_test_markers(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    count = len(NOTEBOOKS)
    for i, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            assert not code_lines_in_markdown(source), f"{path.name} cell {i}: markdown holding Python"
        assert "NBVAL_" not in source and "# noqa" not in source, (
            f"{path.name} cell {i}: a test or lint marker shown to learners; use the cell's nbval-* tag instead")
        for match in re.finditer(r"notebook (\d+) of (\d+)", source):
            assert int(match.group(2)) == count, f"{path.name}: says {match.group(0)!r} but the course has {count}"
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert not ("application/vnd.jupyter.widget-view+json" in data and "text/plain" in data), (
                f"{path.name} cell {i}: a widget's text fallback (HBox(...)) shows under its picture")
    first = "".join(notebook["cells"][1]["source"])
    assert "docs/glossary.md" in first, f"{path.name}: the opening box links the glossary"


def _code(source: str, hidden: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"jupyter": {"outputs_hidden": True}} if hidden else {}
    return {"cell_type": "code", "execution_count": 1, "metadata": meta, "outputs": [], "source": source}


def test_reveal_cells_run_from_a_prediction_to_its_check() -> None:
    cells = [_code("x = 1"), _code("predicted_t = None  # your guess"), {"cell_type": "markdown", "source": "## Run"},
             _code("acc = run()\nplot(acc)"), _code("tutor.check(ex.T, predicted_t, acc)"), _code("after = 2"),
             _code("predicted_s = None"), _code("s = measure()\ntutor.check(ex.S, predicted_s, s)"), _code("z = 3")]
    assert notebook_form.reveal_cells(cells) == [3, 7]
    nb = normalise({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, info={})
    hidden = [i for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("jupyter", {}).get("outputs_hidden")]
    assert hidden == [3, 7]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2].isdigit()], ids=lambda p: p.name)
def test_every_prediction_is_followed_by_collapsed_results(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    predictions = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                   and notebook_form.PREDICTION.match(notebook_form.cell_source(c))]
    reveal = notebook_form.reveal_cells(cells)
    assert len(reveal) >= len(predictions)
    for i in reveal:
        meta = cells[i]["metadata"]
        assert meta["jupyter"]["outputs_hidden"] is True and meta["collapsed"] is True, f"{path.name} cell {i} shows its answer"
    for i in predictions:  # the answer is computed below the prediction, never above it
        assert any(j > i for j in reveal), f"{path.name}: nothing runs after the prediction in cell {i}"
