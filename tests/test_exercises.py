import math

import pytest
import torch
import torch.nn.functional as F

from ddpm_lib import exercises as ex
from ddpm_lib.linear import interaction_features
from ddpm_lib.sample import slerp
from ddpm_lib.schedule import extract
from ddpm_lib.unet import SinusoidalPositionEmbeddings


def untouched(*args):
    raise NotImplementedError


def model(x, t):
    return 0.3 * x + t.float().reshape(-1, 1, 1, 1) / 1000


SOLUTIONS = {
    "interaction": (ex.check_interaction_features, (interaction_features,),
                    lambda z, c: torch.cat([z, c, (z[:, :, None] * c[:, None, :]).flatten(1)], 1)),
    "one_shot": (ex.check_one_shot_denoise, (lambda z, c: z - 0.5 * z.sum(1, keepdim=True),
                                             lambda z, c: 0.5 * z.sum(1, keepdim=True), 6), lambda z, c: z),
    "alpha_bar": (ex.check_alphas_cumprod, (lambda b: torch.cumprod(1 - b, 0),), lambda b: 1 - b),
    "q_sample": (ex.check_q_sample, (lambda s, x0, t, e: s.q_sample(x0, t, e),),
                 lambda s, x0, t, e: extract(s.alphas_cumprod, t, x0.shape) * x0),
    "sinusoidal": (ex.check_sinusoidal_embedding, (lambda t, d: SinusoidalPositionEmbeddings(d)(t),),
                   lambda t, d: torch.zeros(len(t), d)),
    "adagn": (ex.check_adagn, (lambda h, sc, sh: h * (1 + sc[:, :, None, None]) + sh[:, :, None, None],),
              lambda h, sc, sh: h),
    "loss": (ex.check_diffusion_loss, (lambda m, s, x0, t, e: F.mse_loss(m(s.q_sample(x0, t, e), t), e), model),
             lambda m, s, x0, t, e: torch.tensor(0.0)),
    "ema": (ex.check_ema_update, (lambda e, th, d: d * e + (1 - d) * th,), lambda e, th, d: th),
    "ddpm_step": (ex.check_ddpm_step, (
        lambda s, x, t, e, z: (x - extract(s.betas, t, x.shape) / extract(s.sqrt_one_minus_alphas_cumprod, t, x.shape) * e)
        / extract(s.alphas, t, x.shape).sqrt() + extract(s.betas, t, x.shape).sqrt() * z,), lambda s, x, t, e, z: x),
    "predict_x0": (ex.check_predict_x0, (lambda s, x, t, e: s.predict_x0(x, t, e),), lambda s, x, t, e: x),
    "guidance": (ex.check_guidance, (lambda c, u, w: u + w * (c - u),), lambda c, u, w: c),
    "ddim": (ex.check_ddim_step, (lambda x0, e, a: a.sqrt() * x0 + (1 - a).sqrt() * e,), lambda x0, e, a: x0),
    "label_dropout": (ex.check_label_dropout, (lambda y, d, n: torch.where(d, n, y),), lambda y, d, n: y),
    "slerp": (ex.check_slerp, (slerp,), lambda a, b, w: a),
    "half_mask": (ex.check_half_mask, (lambda s: torch.ones(s).index_fill_(2, torch.arange(16, 32), 0),),
                  lambda s: torch.ones(s)),
    "inpaint": (ex.check_inpaint_merge, (lambda g, k, m: m * k + (1 - m) * g,), lambda g, k, m: g),
}


@pytest.mark.parametrize("name", SOLUTIONS)
def test_correct_solution_passes(name):
    check, (solution, *extra), _ = SOLUTIONS[name]
    result = check(solution, *extra)
    assert result.passed is True, str(result)


@pytest.mark.parametrize("name", SOLUTIONS)
def test_untouched_exercise_reports_not_attempted_and_never_raises(name):
    check, (_, *extra), _ = SOLUTIONS[name]
    result = check(untouched, *extra)
    assert result.passed is None and "Hint" in result.message


@pytest.mark.parametrize("name", SOLUTIONS)
def test_wrong_solution_fails_with_a_hint(name):
    check, (_, *extra), wrong = SOLUTIONS[name]
    result = check(wrong, *extra)
    assert result.passed is False and len(result.message) > 20


def test_known_mistakes_get_specific_hints():
    r = ex.check_q_sample(lambda s, x0, t, e: extract(s.alphas, t, x0.shape).sqrt() * x0
                          + (1 - extract(s.alphas, t, x0.shape)).sqrt() * e)
    assert r.passed is False and "alpha_bar" in r.message
    r = ex.check_alphas_cumprod(lambda b: 1 - b)
    assert "running product" in r.message
    r = ex.check_guidance(lambda c, u, w: c + w * (c - u))
    assert "unconditional" in r.message
    r = ex.check_ema_update(lambda e, th, d: (1 - d) * e + d * th)
    assert "swapped" in r.message


def test_errors_and_shapes_are_reported_not_raised():
    r = ex.check_ema_update(lambda e, th, d: 1 / 0)
    assert r.passed is False and "ZeroDivisionError" in r.message
    r = ex.check_ema_update(lambda e, th, d: th[:3])
    assert r.passed is False and "shape" in r.message
    r = ex.check_ema_update(lambda e, th, d: [1, 2])
    assert r.passed is False and "torch.Tensor" in r.message
    assert "✅" in ex.check_ema_update(lambda e, th, d: d * e + (1 - d) * th)._repr_markdown_()
    assert math.isfinite(len(str(r)))
