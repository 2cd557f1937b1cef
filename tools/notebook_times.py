"""How long each notebook takes, measured, and the "Before you run" box each notebook opens with.

Each notebook is executed on its own (a fresh course folder, as CI runs it) with one preset; the
wall time, the slowest cell and the machine's matmul peaks (``ddpm_lib.bench.matmul_peak``, so a
learner can scale the times to their machine) go into ``notebooks/run_times.json``. The box is a
markdown cell tagged ``before-you-run``, written from that file by :func:`box_markdown`, never by
hand (``tests/test_notebook_times.py`` checks every box against the file).

    python -m tools.notebook_times --preset smoke notebooks/*.ipynb            # time only
    python -m tools.notebook_times --preset cpu --inplace notebooks/*.ipynb    # make notebooks
    python -m tools.notebook_times --boxes notebooks/*.ipynb                   # rewrite the boxes only
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from ddpm_lib.files import atomic_write_json
from tools.notebook_form import cell_source, save

ROOT = Path(__file__).resolve().parents[1]
TIMES_PATH = ROOT / "notebooks" / "run_times.json"
BOX_TAG = "before-you-run"
PRESETS = ("cpu", "smoke")


def machine() -> dict[str, Any]:
    """The measuring machine: CPU, cores, and its fp32/bf16 matmul peaks in GFLOP/s, measured now."""
    import torch

    from ddpm_lib.bench import machine, matmul_peak

    device = torch.device("cpu")
    where = machine(device)
    return {"cpu": where["cpu"], "cores": where["cores"], "torch": where["torch"],
            "matmul_gflops": {"fp32": round(matmul_peak(torch.float32, device)),
                              "bf16": round(matmul_peak(torch.bfloat16, device))},
            "date": date.today().isoformat()}


def _heading(cells: list[dict[str, Any]], index: int) -> str:
    """The title of the section cell ``index`` sits in (the nearest markdown heading of level 1 or 2
    above it; exercise headings, level 3, sit inside sections)."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") == "markdown":
            for line in cell_source(cell).splitlines():
                if line.startswith("#") and not line.startswith("###"):
                    return line.lstrip("#").strip()
    return "the first cells"


def _seconds(execution: dict[str, str]) -> float:
    start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
    if not start or not end:
        return 0.0
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def execute(path: Path, preset: str, timeout: int = 3600) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``path`` top to bottom in a fresh course folder with ``preset``; (executed notebook, timing)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix=f"times-{path.stem}-") as root, \
            mock.patch.dict(os.environ, DDPM_COURSE_MODE=preset, DDPM_COURSE_ROOT=root, TQDM_DISABLE="1"):
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        wall = time.perf_counter() - start
    cells = nb["cells"]
    per_cell = [(_seconds(c.get("metadata", {}).get("execution", {})), i) for i, c in enumerate(cells)
                if c.get("cell_type") == "code"]
    slowest_s, slowest_i = max(per_cell)
    timing = {"seconds": round(wall, 1),
              "slowest": {"section": _heading(cells, slowest_i), "seconds": round(slowest_s, 1)}}
    return json.loads(json.dumps(nb)), timing


def load_times(path: Path = TIMES_PATH) -> dict[str, Any]:
    if not path.is_file():
        return {"presets": {}}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min" if rest == 0 or minutes >= 10 else f"{minutes} min {rest:02d} s"


WORDS_PER_MINUTE = 120  # technical prose with formulas, read to be understood


def reading_words(nb: dict[str, Any]) -> int:
    """The words of a notebook's text (markdown cells, the box itself left out): what its reading time counts."""
    return sum(len(cell_source(c).split()) for c in nb["cells"] if c.get("cell_type") == "markdown" and not is_box(c))


def box_markdown(times: dict[str, Any], stem: str, words: int) -> str:
    """The "Before you run" box of notebook ``stem``: reading time from its ``words``, running times from the
    measured ``times``, and the machine they were measured on described so a learner can compare."""
    c, s = times["presets"]["cpu"]["notebooks"][stem], times["presets"]["smoke"]["notebooks"][stem]
    ref = c["machine"]
    peaks = ref["matmul_gflops"]
    lines = [
        f"> **Before you run.** Reading takes about **{max(1, round(words / WORDS_PER_MINUTE))} min** "
        f"({words:,} words), the exercises as long again. Symbols and words: the "
        "[glossary](../docs/glossary.md).",
        ">",
        f"> - **`cpu` preset** (the default without a GPU): about **{_duration(c['seconds'])}** to run; the "
        f"slowest cell is in *{c['slowest']['section']}* ({_duration(c['slowest']['seconds'])}).",
        f"> - **`smoke` preset** (what CI runs, about {_duration(s['seconds'])}): tiny models that check every "
        "cell runs; their pictures are noise and their scores mean nothing.",
        ">",
        f"> Measured on a {ref['cores']}-core {ref['cpu']} whose matrix products peak at {peaks['fp32']} GFLOP/s "
        f"in fp32 and {peaks['bf16']} in bf16. `python -m ddpm_lib bench` prints your machine's peaks: expect about "
        "our time times our peak over yours (compare the bf16 peaks if `bench` reports `fast_precision` "
        "bf16, else the fp32 ones). Too slow? Read the committed outputs, which are the `cpu` preset's, and "
        "run only the cells you want to change.",
    ]
    return "\n".join(lines)


def is_box(cell: dict[str, Any]) -> bool:
    return BOX_TAG in cell.get("metadata", {}).get("tags", [])


def with_box(nb: dict[str, Any], text: str) -> dict[str, Any]:
    """``nb`` with its box set to ``text``: replaced where it is, else inserted after the title cell."""
    nb = json.loads(json.dumps(nb))
    cells = nb["cells"]
    existing = [c for c in cells if is_box(c)]
    if existing:
        existing[0]["source"] = text
    else:
        cells.insert(1, {"cell_type": "markdown", "id": uuid.uuid4().hex[:8],
                         "metadata": {"slideshow": {"slide_type": "skip"}, "tags": [BOX_TAG]}, "source": text})
    return nb


def write_boxes(notebooks: list[Path], times: dict[str, Any]) -> None:
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        save(path, with_box(nb, box_markdown(times, path.stem, reading_words(nb))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebook_times", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--preset", choices=PRESETS, help="execute and time the notebooks with this preset")
    parser.add_argument("--inplace", action="store_true", help="also write the executed notebooks back")
    parser.add_argument("--boxes", action="store_true", help="only rewrite the boxes from run_times.json")
    parser.add_argument("--times", type=Path, default=TIMES_PATH, help="the JSON file of measured times")
    args = parser.parse_args(argv)
    if bool(args.preset) == args.boxes:
        parser.error("give --preset NAME (measure) or --boxes (rewrite boxes), not both or neither")
    times = load_times(args.times)
    if args.preset:
        entry = times["presets"].setdefault(args.preset, {"notebooks": {}})
        measured_on = machine()  # measured once per invocation, recorded with each notebook it timed
        for path in args.notebooks:
            executed, timing = execute(path, args.preset)
            entry["notebooks"][path.stem] = {**timing, "machine": measured_on}
            print(f"{path.name}: {timing['seconds']:.0f} s with the {args.preset} preset; slowest cell in "
                  f"{timing['slowest']['section']!r} ({timing['slowest']['seconds']:.0f} s)", flush=True)
            if args.inplace:
                save(path, executed)
            atomic_write_json(args.times, times)
    if all(p in times["presets"] for p in PRESETS):
        write_boxes(args.notebooks, times)
    else:
        print(f"boxes not written: {args.times} lacks a preset of {PRESETS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
