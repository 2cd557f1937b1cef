"""The capstone's checks and assembly: the reference file's own blocks pass every check, each known mistake is
named, and the assembled file holds the learner's blocks that pass, read from the cell that defined them."""

import linecache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import ddpm_exercises as ex
from ddpm_exercises.capstone import BLOCKS, assemble, cell_source, definition, imported_modules

FILE = Path(__file__).resolve().parents[1] / "quest_12_2.py"


def cell(source: str, number: int) -> dict[str, Any]:
    """Run ``source`` as a notebook kernel runs a cell: compiled under a file name the line cache knows."""
    name = f"/tmp/ipykernel_0/{number}.py"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    scope: dict[str, Any] = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    exec(compile(source, name, "exec"), scope)
    return scope


def test_the_reference_blocks_pass_every_check(quest: ModuleType) -> None:
    for name, exercise in BLOCKS.items():
        result = ex.Tutor().check(exercise, getattr(quest, name))
        assert result.passed is True, (name, str(result))


def test_known_mistakes_are_named(quest: ModuleType) -> None:
    def unscaled(n: int) -> tuple[torch.Tensor, ...]:
        b = torch.linspace(1e-4, 0.02, n)
        return b, 1 - b, torch.cumprod(1 - b, 0)

    def unweighted(model: Any, alpha_bar: torch.Tensor, x0: torch.Tensor, t: torch.Tensor, labels: torch.Tensor,
                   eps: torch.Tensor) -> torch.Tensor:
        a = alpha_bar[t][:, None, None, None]
        out: torch.Tensor = (model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t, labels) - eps).square().mean()
        return out

    def whole_chain(betas: torch.Tensor, alpha_bar: torch.Tensor, x_t: torch.Tensor, eps: torch.Tensor, t: int,
                    z: torch.Tensor) -> torch.Tensor:
        beta, a = betas[t], alpha_bar[t]
        return (x_t - beta / (1 - a).sqrt() * eps) / a.sqrt() + beta.sqrt() * z

    class NoSkip(quest.Block):  # type: ignore[name-defined,misc]
        def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = super().forward(x, emb) - self.skip(x)
            return out

    for exercise, attempt, key in ((ex.QUEST_SCHEDULE, unscaled, "unscaled"), (ex.QUEST_LOSS, unweighted, "unweighted"),
                                   (ex.QUEST_STEP, whole_chain, "alpha_bar_mean"), (ex.QUEST_BLOCK, NoSkip, "no_skip")):
        result = ex.Tutor().check(exercise, attempt)
        assert result.passed is False and result.mistake == key, (exercise.name, str(result))
        assert exercise.mistakes[key] in result.message


def test_a_changed_init_and_an_untouched_block_are_reported_not_raised() -> None:
    scope = cell("class Block(nn.Module):\n    def __init__(self, c_in, c_out, emb_dim, groups=8):\n"
                 "        super().__init__()\n\n    def forward(self, x, emb):\n        return x\n", 1)
    result = ex.Tutor().check(ex.QUEST_BLOCK, scope["Block"])
    assert result.passed is False and "given __init__" in result.message
    untouched = cell("def sample_step(betas, alpha_bar, x_t, eps, t, z):\n    raise NotImplementedError\n", 2)
    assert ex.Tutor().check(ex.QUEST_STEP, untouched["sample_step"]).state == "not attempted"


def test_assemble_puts_in_the_blocks_that_pass_read_from_their_cells(quest: ModuleType, tmp_path: Path) -> None:
    right = cell("def linear_beta_schedule(num_timesteps):\n    # mine\n    scale = 1000 / num_timesteps\n"
                 "    b = torch.linspace(1e-4 * scale, 0.02 * scale, num_timesteps, dtype=torch.float64)\n"
                 "    return b.float(), (1 - b).float(), torch.cumprod(1 - b, 0).float()\n", 3)
    wrong = cell("def get_loss(model, alpha_bar, x0, t, labels, eps):\n    return x0.mean()  # mine too\n", 4)
    out = tmp_path / "quest_12_2.py"
    report = assemble([right["linear_beta_schedule"], wrong["get_loss"]], FILE, out)
    assert report == ["SinusoidalPositionEmbeddings: the reference's (not attempted)",
                      "Block: the reference's (not attempted)", "linear_beta_schedule: yours",
                      "get_loss: the reference's (its check does not pass yet)",
                      "sample_step: the reference's (not attempted)"]
    text = out.read_text()
    assert "# mine\n" in text and "# mine too" not in text
    first, last = definition(text, "linear_beta_schedule")
    assert "\n".join(text.splitlines()[first - 1:last]) == cell_source(right["linear_beta_schedule"])
    assert imported_modules(out) == imported_modules(FILE) and "ddpm_lib" not in imported_modules(out)
    with pytest.raises(ValueError, match="not blocks you write"):
        assemble([quest.sample], FILE, tmp_path / "other.py")


def test_the_accuracy_prediction_compares_with_the_measurement() -> None:
    assert ex.Tutor().check(ex.QUEST_ACCURACY, 0.8, 0.9, 300).passed is True
    off = ex.Tutor().check(ex.QUEST_ACCURACY, 0.2, 0.9, 300)
    assert off.passed is False and "300 training steps" in off.message and "90%" in off.message
