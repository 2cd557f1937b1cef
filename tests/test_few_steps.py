"""tools/few_steps.py: the runs cover every few-step sampler the course teaches, and the plot is written."""

from PIL import Image

from ddpm_lib.validate import SAMPLERS
from tools.few_steps import RUNS, plot


def test_runs_cover_every_sampler_but_ddpm_within_50_evaluations():
    assert {sampler for _, _, sampler, _, _ in RUNS} == set(SAMPLERS) - {"ddpm"}
    for name, _, sampler, w, counts in RUNS:
        calls = [2 * n - 1 if sampler == "heun" else n for n in counts]
        assert max(calls) * (1 if w == 1.0 else 2) <= 50, name


def test_plot_writes_a_png(tmp_path):
    rows = [{"model and sampler": name, "evaluations": e, "x floor": 2.0 + 1 / e, "ms per image": 0.5 * e}
            for name in ("reflow, Euler", "pixel flow model, Heun") for e in (1, 2, 4)]
    path = plot(rows, 0.099, tmp_path / "few.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 800
