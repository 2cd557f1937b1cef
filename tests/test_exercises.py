"""Every exercise's check: the right answer passes, each known mistake gets its own sentence, an
untouched exercise says "not attempted" and gives nothing away, and hints come one wrong attempt
at a time."""

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import ddpm_exercises as ex
from ddpm_exercises import core
from ddpm_exercises.core import compile_function
from ddpm_exercises.predict import crossing, standard_error_of_difference
from ddpm_lib.schedule import extract


def untouched(*args):
    raise NotImplementedError


def model(x, t):
    return 0.3 * x + t.float().reshape(-1, 1, 1, 1) / 1000


def noise_of(z, c):
    return 0.5 * z + 0.1 * c.argmax(1, keepdim=True)


def ab(s, t, x):
    return extract(s.alphas_cumprod, t, x.shape)


def coef(s, name, t, x):
    return extract(getattr(s, name), t, x.shape)


# exercise -> (extra context, the right answer, {mistake key: an attempt that makes that mistake})
def own_slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    theta = torch.arccos((a * b).sum() / (a.norm() * b.norm()))
    return (torch.sin((1 - w) * theta) * a + torch.sin(w * theta) * b) / torch.sin(theta)


def own_straightness(velocity, eps, steps, sign=1.0, first_only=False):
    """Written apart from the check's reference: Euler's path, then the velocities' gap from the chord."""
    xs, vs = [eps], []
    for k in range(steps):
        vs.append(velocity(xs[-1], 1 - k / steps))
        xs.append(xs[-1] - vs[-1] / steps)
    chord = sign * (eps - xs[-1])
    gaps = [float(((chord - v) ** 2).mean()) for v in (vs[:1] if first_only else vs)]
    return sum(gaps) / len(gaps)


IMPLEMENT: dict[ex.Exercise, tuple[Any, Any, dict[str, Any]]] = {
    ex.INTERACTION_FEATURES: ((), lambda z, c: torch.cat([z, c, (c[:, :, None] * z[:, None, :]).flatten(1)], 1), {
        "order": lambda z, c: torch.cat([z, c, (z[:, :, None] * c[:, None, :]).flatten(1)], 1),
        "no_products": lambda z, c: torch.cat([z, c, torch.zeros(len(z), 10 * z.shape[1], dtype=z.dtype)], 1)}),
    ex.ONE_SHOT_DENOISE: ((noise_of, 6), lambda z, c: z - noise_of(z, c), {
        "returned_noise": noise_of, "sign": lambda z, c: z + noise_of(z, c)}),
    ex.ALPHAS_CUMPROD: ((), lambda b: torch.cumprod(1 - b, 0), {
        "alpha": lambda b: 1 - b, "beta_product": lambda b: torch.cumprod(b, 0),
        "sum": lambda b: 1 - torch.cumsum(b, 0),
        "exclusive": lambda b: torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)[:-1]])}),
    ex.Q_SAMPLE: ((), lambda s, x0, t, e: ab(s, t, x0).sqrt() * x0 + (1 - ab(s, t, x0)).sqrt() * e, {
        "one_step": lambda s, x0, t, e: coef(s, "alphas", t, x0).sqrt() * x0 + (1 - coef(s, "alphas", t, x0)).sqrt() * e,
        "no_sqrt": lambda s, x0, t, e: ab(s, t, x0) * x0 + (1 - ab(s, t, x0)) * e,
        "swapped": lambda s, x0, t, e: (1 - ab(s, t, x0)).sqrt() * x0 + ab(s, t, x0).sqrt() * e}),
    ex.SINUSOIDAL_EMBEDDING: ((), lambda t, d: torch.cat([
        (t[:, None] * torch.exp(-math.log(10000) * torch.arange(d // 2) / (d // 2))).sin(),
        (t[:, None] * torch.exp(-math.log(10000) * torch.arange(d // 2) / (d // 2))).cos()], 1), {
        "cos_first": lambda t, d: torch.cat([
            (t[:, None] * torch.exp(-math.log(10000) * torch.arange(d // 2) / (d // 2))).cos(),
            (t[:, None] * torch.exp(-math.log(10000) * torch.arange(d // 2) / (d // 2))).sin()], 1),
        "rising": lambda t, d: torch.cat([
            (t[:, None] * torch.exp(math.log(10000) * torch.arange(d // 2) / (d // 2))).sin(),
            (t[:, None] * torch.exp(math.log(10000) * torch.arange(d // 2) / (d // 2))).cos()], 1)}),
    ex.ADAGN: ((), lambda h, sc, sh: h * (1 + sc[:, :, None, None]) + sh[:, :, None, None], {
        "plain_scale": lambda h, sc, sh: h * sc[:, :, None, None] + sh[:, :, None, None],
        "shift_first": lambda h, sc, sh: (h + sh[:, :, None, None]) * (1 + sc[:, :, None, None])}),
    ex.DIFFUSION_LOSS: ((model,), lambda m, s, x0, t, e: F.mse_loss(m(s.q_sample(x0, t, e), t), e), {
        "clean_input": lambda m, s, x0, t, e: F.mse_loss(m(x0, t), e),
        "target_x0": lambda m, s, x0, t, e: F.mse_loss(m(s.q_sample(x0, t, e), t), x0),
        "sum": lambda m, s, x0, t, e: ((m(s.q_sample(x0, t, e), t) - e) ** 2).sum()}),
    ex.EMA_UPDATE: ((), lambda e, th, d: d * e + (1 - d) * th, {
        "swapped": lambda e, th, d: (1 - d) * e + d * th, "no_average": lambda e, th, d: th}),
    ex.DDPM_STEP: ((), lambda s, x, t, e, z: (x - coef(s, "betas", t, x) / (1 - ab(s, t, x)).sqrt() * e)
                   / coef(s, "alphas", t, x).sqrt() + coef(s, "betas", t, x).sqrt() * z, {
        "beta_z": lambda s, x, t, e, z: (x - coef(s, "betas", t, x) / (1 - ab(s, t, x)).sqrt() * e)
        / coef(s, "alphas", t, x).sqrt() + coef(s, "betas", t, x) * z,
        "one_step_noise": lambda s, x, t, e, z: (x - coef(s, "betas", t, x) / (1 - coef(s, "alphas", t, x)).sqrt() * e)
        / coef(s, "alphas", t, x).sqrt() + coef(s, "betas", t, x).sqrt() * z,
        "no_noise": lambda s, x, t, e, z: (x - coef(s, "betas", t, x) / (1 - ab(s, t, x)).sqrt() * e)
        / coef(s, "alphas", t, x).sqrt(),
        "posterior_sigma": lambda s, x, t, e, z: (x - coef(s, "betas", t, x) / (1 - ab(s, t, x)).sqrt() * e)
        / coef(s, "alphas", t, x).sqrt() + coef(s, "posterior_variance", t, x).sqrt() * z}),
    ex.PREDICT_X0: ((), lambda s, x, t, e: (x - (1 - ab(s, t, x)).sqrt() * e) / ab(s, t, x).sqrt(), {
        "no_rescale": lambda s, x, t, e: x - (1 - ab(s, t, x)).sqrt() * e,
        "full_eps": lambda s, x, t, e: (x - e) / ab(s, t, x).sqrt()}),
    ex.GUIDANCE: ((), lambda c, u, w: u + w * (c - u), {
        "from_cond": lambda c, u, w: c + w * (c - u), "reversed": lambda c, u, w: u + w * (u - c)}),
    ex.DDIM_STEP: ((), lambda x0, e, a: a.sqrt() * x0 + (1 - a).sqrt() * e, {
        "no_sqrt": lambda x0, e, a: a * x0 + (1 - a) * e, "clean": lambda x0, e, a: x0}),
    ex.INPAINT_MERGE: ((), lambda g, k, m: m * k + (1 - m) * g, {"swapped": lambda g, k, m: (1 - m) * k + m * g}),
    ex.LABEL_DROPOUT: ((), lambda y, d, n: torch.where(d, n, y), {
        "inverted": lambda y, d, n: torch.where(d, y, n), "zero": lambda y, d, n: torch.where(d, 0, y)}),
    ex.SLERP: ((), own_slerp, {"linear": lambda a, b, w: (1 - w) * a + w * b}),
    ex.HALF_MASK: ((), lambda s: torch.ones(s).index_fill_(2, torch.arange(16, 32), 0), {
        "bottom": lambda s: torch.ones(s).index_fill_(2, torch.arange(0, 16), 0),
        "columns": lambda s: torch.ones(s).index_fill_(3, torch.arange(16, 32), 0)}),
    ex.LATENT_SCALE_FACTOR: ((), lambda z: 1 / z.flatten().std(), {
        "variance": lambda z: 1 / z.var(), "no_reciprocal": lambda z: float(z.std()),
        "rms": lambda z: 1 / z.square().mean().sqrt(), "max": lambda z: 1 / z.abs().max()}),
    ex.VELOCITY_FROM_EPS: ((), lambda x, e, s: (e - x) / (1 - s), {
        "x0_minus_eps": lambda x, e, s: (x - e) / (1 - s), "eps_alone": lambda x, e, s: e,
        "no_division": lambda x, e, s: e - x}),
    ex.STRAIGHTNESS: ((), own_straightness, {
        "sign": lambda v, e, n: own_straightness(v, e, n, sign=-1.0),
        "first_only": lambda v, e, n: own_straightness(v, e, n, first_only=True),
        "total": lambda v, e, n: own_straightness(v, e, n) * n}),
}


def test_every_implement_exercise_is_covered():
    assert set(IMPLEMENT) == set(ex.implement.ALL)
    for exercise, (_, _, wrong) in IMPLEMENT.items():
        assert set(wrong) == set(exercise.mistakes), exercise.name


@pytest.mark.parametrize("exercise", ex.implement.ALL, ids=lambda e: e.name)
def test_implement_right_untouched_and_each_mistake(exercise):
    context, right, wrong = IMPLEMENT[exercise]
    tutor = ex.Tutor()
    result = tutor.check(exercise, untouched, *context)
    assert result.passed is None and result.message.startswith("not attempted")
    assert "Hint" not in result.message  # nothing is given away before an attempt
    for key, attempt in wrong.items():
        result = ex.Tutor().check(exercise, attempt, *context)
        assert result.passed is False and result.mistake == key, (key, str(result))
        assert exercise.mistakes[key] in result.message
    assert tutor.check(exercise, right, *context).passed is True


def test_hints_arrive_one_wrong_attempt_at_a_time_and_hold_no_code():
    tutor = ex.Tutor()
    wrong = lambda s, x0, t, e: x0  # noqa: E731  (an unknown mistake)
    first, second, third = (tutor.check(ex.Q_SAMPLE, wrong).message for _ in range(3))
    hint1, hint2 = ex.Q_SAMPLE.hints
    assert hint1 in first and hint2 not in first
    assert hint1 in second and hint2 in second and third.count("Hint") == 2
    # a named mistake counts as the first hint: the generic hints follow on later attempts
    named = ex.Tutor()
    one_step = IMPLEMENT[ex.Q_SAMPLE][2]["one_step"]
    assert "Hint" not in named.check(ex.Q_SAMPLE, one_step).message
    assert hint1 in named.check(ex.Q_SAMPLE, one_step).message
    code = ("torch.", "[:", "()", ".sqrt", "F.", "mse_loss", "cumprod(", "where(", "def ", "return ")
    for exercise in ex.ALL:
        for text in (*exercise.hints, *exercise.mistakes.values()):
            assert not any(c in text for c in code), (exercise.name, text)


def test_errors_shapes_and_types_are_reported_not_raised():
    tutor = ex.Tutor()
    r = tutor.check(ex.EMA_UPDATE, lambda e, th, d: 1 / 0)
    assert r.passed is False and "ZeroDivisionError" in r.message
    r = tutor.check(ex.EMA_UPDATE, lambda e, th, d: th[:3])
    assert r.passed is False and "shape (5,)" in r.message
    r = tutor.check(ex.EMA_UPDATE, lambda e, th, d: [1, 2])
    assert r.passed is False and "torch.Tensor" in r.message and "list" in r.message
    ok = tutor.check(ex.EMA_UPDATE, lambda e, th, d: d * e + (1 - d) * th)
    assert "✅" in ok._repr_markdown_() and str(ok).startswith("[EMA update: correct]")


# -- predict, then run ---------------------------------------------------------------------------
# exercise -> (measured values, a right prediction, a wrong one, a word the explanation must contain)
PREDICT = {
    ex.ONE_SHOT_ACCURACY: ((0.42,), 0.5, 0.95, "42%"),
    ex.COSINE_ALPHA_BAR_END: ((2.4e-9, 4.0e-5), 1e-6, 0.1, "2.4e-09"),
    ex.HALF_ACCURACY_STEP: (([0, 100, 200, 300], [0.99, 0.9, 0.3, 0.1], [1 - i / 1000 for i in range(1000)]),
                            200, 600, "t = 167"),
    ex.ATTENTION_COST_RATIO: ((96.0, 16.0), 120, 16, "256-fold"),
    ex.ZERO_PREDICTOR_LOSS: ((1.01, 0.03), 1.0, 0.03, "3%"),
    ex.WRONG_T_LOSS_RATIO: ((6.0,), 4, 1.1, "6.0 times"),
    ex.NEGATIVE_GUIDANCE_ACCURACY: ((0.03,), 0.0, 0.5, "below chance"),
    ex.FEWEST_DDIM_STEPS: (([10, 20, 50], [0.8, 0.93, 0.95]), 15, 50, "are 20, and 10 steps fall below"),
    ex.GUIDED_TRAINING_DATA: (([0.90, 0.91, 0.92], [0.90, 0.92, 0.91]), "no difference", "w=3", "answer is 'no difference'"),
    ex.ONE_EULER_STEP_SPREAD: ((0.031, 0.612), 0.0, 0.5, "differed by 0.031 per pixel"),
    ex.LATENT_SPEEDUP: ((3.8, 2.6, 16.0), 3.0, 16.0, "Training ran 3.8 times more images"),
    ex.FEWEST_REFLOW_STEPS: (([1, 2, 4, 8], [0.40, 0.30, 0.26, 0.25], 0.27), 4, 1, "are 4, and 2 steps fall below"),
}


def test_every_predict_exercise_is_covered():
    assert set(PREDICT) == set(ex.predict.ALL)


@pytest.mark.parametrize("exercise", ex.predict.ALL, ids=lambda e: e.name)
def test_predict_untouched_right_wrong_and_nonsense(exercise):
    measured, right, wrong, why = PREDICT[exercise]
    tutor = ex.Tutor()
    r = tutor.check(exercise, None, *measured)
    assert r.passed is None and r.message.startswith("not attempted") and why not in r.message
    r = tutor.check(exercise, right, *measured)
    assert r.passed is True and why in r.message, r.message
    r = tutor.check(exercise, wrong, *measured)
    assert r.passed is False and why in r.message and "You" in r.message, r.message
    r = tutor.check(exercise, "a lot" if exercise is not ex.GUIDED_TRAINING_DATA else "maybe", *measured)
    assert r.passed is False and "'" in r.message


def test_predictions_outside_their_range_are_explained():
    r = ex.Tutor().check(ex.ONE_SHOT_ACCURACY, 40, 0.42)
    assert r.passed is False and "40% is 0.4" in r.message
    r = ex.Tutor().check(ex.FEWEST_DDIM_STEPS, 0, [10, 20], [0.95, 0.96])
    assert r.passed is False and "1 or more" in r.message


def test_fewest_steps_when_every_or_no_count_passes():
    tutor = ex.Tutor()
    r = tutor.check(ex.FEWEST_DDIM_STEPS, 1, [10, 20], [0.95, 0.96])  # below every count tried: untested
    assert r.passed is None and "neither confirm nor refute" in r.message and "add 1 to the sweep" in r.message
    assert tutor.wrong_attempts == {}  # an untested prediction is not a wrong one
    assert ex.Tutor().check(ex.FEWEST_DDIM_STEPS, 10, [10, 20], [0.95, 0.96]).passed is True
    assert ex.Tutor().check(ex.FEWEST_DDIM_STEPS, 12, [10, 20], [0.95, 0.96]).passed is False
    assert ex.Tutor().check(ex.FEWEST_DDIM_STEPS, 100, [10, 20], [0.5, 0.6]).passed is True


def test_guided_data_measures_a_real_difference():
    r = ex.Tutor().check(ex.GUIDED_TRAINING_DATA, "w=1", [0.95, 0.96, 0.955], [0.90, 0.91, 0.905])
    assert r.passed is True and "'w=1'" in r.message
    assert ex.Tutor().check(ex.GUIDED_TRAINING_DATA, "W = 3", [0.90] * 3, [0.95] * 3).passed is True


def test_crossing_and_standard_error_against_hand_values():
    assert crossing([0, 100, 200], [1.0, 0.6, 0.2], 0.5) == pytest.approx(125.0)
    assert crossing([0, 100], [1.0, 0.9], 0.5) is None
    assert standard_error_of_difference([1, 2, 3], [2, 4, 6]) == pytest.approx(math.sqrt(1 / 3 + 4 / 3))


# -- find the bug --------------------------------------------------------------------------------
def fixed(source, *edits):
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return compile_function(source, ex.bugs.NAMESPACE)


NOISE_LINE = "        x = mean + beta.sqrt() * torch.randn(x.shape, generator=generator)\n"
BUGS: dict[ex.Exercise, tuple[Any, dict[str, Any]]] = {
    ex.LAST_STEP_NOISE: (((NOISE_LINE, NOISE_LINE.replace("\n", " if step > 0 else mean\n")),), {
        "noise_at_end": ((NOISE_LINE, "        noise = torch.randn(x.shape, generator=generator)\n"
                                      "        x = mean + beta.sqrt() * noise\n"),),
        "skips_last": (("range(schedule.num_timesteps)", "range(1, schedule.num_timesteps)"),
                       (NOISE_LINE, NOISE_LINE.replace("\n", " if step > 0 else mean\n")))}),
    ex.POSTERIOR_VARIANCE: ((("a_bar.roll(1)", "torch.cat([torch.ones(1), a_bar[:-1]])"),), {
        "first_value": (("a_bar.roll(1)", "torch.cat([torch.zeros(1), a_bar[:-1]])"),),
        "no_prev": (("a_bar.roll(1)", "a_bar"),)}),
    ex.CLAMP_X0: ((("    x_t = x_t.clamp(-1, 1)\n", ""), ("    mean, _", "    x0_hat = x0_hat.clamp(-1, 1)\n    mean, _")), {
        "clamp_xt": (("x_t = x_t.clamp(-1, 1)", "x_t = x_t.clamp(min=-1, max=1)"),),
        "no_clamp": (("    x_t = x_t.clamp(-1, 1)\n", ""),),
        "both": (("    mean, _", "    x0_hat = x0_hat.clamp(-1, 1)\n    mean, _"),)}),
    ex.GUIDANCE_BRANCHES: ((("eps_uncond, eps_cond = eps.chunk(2)", "eps_cond, eps_uncond = eps.chunk(2)"),), {
        "swapped": (("eps.chunk(2)", "torch.chunk(eps, 2)"),),
        "no_null": (("return eps_uncond + w * (eps_cond - eps_uncond)", "return eps_cond"),
                    ("eps_uncond, eps_cond = eps.chunk(2)", "eps_cond, eps_uncond = eps.chunk(2)"))}),
    ex.LATENT_CLAMP: ((("/ a.sqrt()).clamp(-1, 1)", "/ a.sqrt())"),), {
        "clamped": (("/ a.sqrt()).clamp(-1, 1)", "/ a.sqrt()).clamp(-1.0, 1.0)"),),
        "no_unscale": (("/ a.sqrt()).clamp(-1, 1)", "/ a.sqrt())"), ("decode(z / scale_factor)", "decode(z)")),
        "clamped_no_unscale": (("decode(z / scale_factor)", "decode(z)"),)}),
    ex.HEUN_CORRECTOR: ((("velocity(x, s_next)", "velocity(x_euler, s_next)"),), {
        "at_start": (("v_next = velocity(x, s_next)", "v_next = velocity(x + 0 * v, s_next)"),),
        "euler": (("x = x + (s_next - s) * (v + v_next) / 2", "x = x_euler"),)}),
    ex.REFLOW_PAIRING: ((("pairs_eps[j]", "pairs_eps[i]"),), {
        "independent": (("pairs_eps[j]", "pairs_eps[(j + 0)]"),),
        "sign": (("pairs_eps[j]", "pairs_eps[i]"), ("    j = torch.randint(len(pairs_eps), (batch_size,), generator=generator)\n", ""),
                 ("(eps - x0)", "(x0 - eps)")),
        "sign_j": (("pairs_eps[j]", "pairs_eps[i]"), ("(eps - x0)", "(x0 - eps)"))}),
}


def test_every_bug_is_covered():
    assert set(BUGS) == set(ex.bugs.ALL)
    for exercise, (_, wrong) in BUGS.items():
        assert set(wrong) == set(exercise.mistakes), exercise.name


@pytest.mark.parametrize("exercise", ex.bugs.ALL, ids=lambda e: e.name)
def test_bug_untouched_fixed_and_each_wrong_fix(exercise):
    fix, wrong = BUGS[exercise]
    tutor = ex.Tutor()
    planted = compile_function(exercise.planted, ex.bugs.NAMESPACE)
    r = tutor.check(exercise, planted)
    assert r.passed is None and "not attempted" in r.message and "Hint" not in r.message
    for key, edits in wrong.items():
        r = ex.Tutor().check(exercise, fixed(exercise.planted, *edits))
        assert r.passed is False and r.mistake == key, (key, str(r))
    r = tutor.check(exercise, fixed(exercise.planted, *fix))
    assert r.passed is True, str(r)


def test_a_bug_left_in_but_edited_elsewhere_counts_as_an_attempt():
    edited = fixed(ex.LAST_STEP_NOISE.planted, ("    x = x_T\n", "    x = x_T.clone()\n"))
    r = ex.Tutor().check(ex.LAST_STEP_NOISE, edited)
    assert r.passed is False and r.mistake == "noise_at_end"
    r = ex.Tutor().check(ex.LAST_STEP_NOISE, "ddpm_sample")
    assert r.passed is False and "function itself" in r.message


def test_half_accuracy_without_a_crossing_is_untouched_or_explained():
    flat = ([0, 100], [0.99, 0.98], [1.0] * 1000)
    assert ex.Tutor().check(ex.HALF_ACCURACY_STEP, None, *flat).passed is None
    r = ex.Tutor().check(ex.HALF_ACCURACY_STEP, 300, *flat)
    assert r.passed is False and "never fell below 50%" in r.message


def test_a_check_that_crashes_is_reported_as_the_courses_fault_and_spends_no_hint():
    from ddpm_exercises.core import Exercise

    def evaluate(answer: object) -> ex.Verdict:
        raise KeyError("reference missing")

    broken = Exercise("broken", "implement", "Write f.", evaluate, hints=("first hint",))
    tutor = ex.Tutor()
    result = tutor.check(broken, lambda: None)
    assert result.passed is None and result.mistake == "broken check"
    assert "fault in the course, not in your answer" in result.message and "KeyError" in result.message
    assert "first hint" not in result.message and tutor.wrong_attempts == {}


def test_one_euler_step_spread_is_judged_relative_to_the_measurement():
    measured = (0.031, 0.612)
    assert ex.Tutor().check(ex.ONE_EULER_STEP_SPREAD, 0.12, *measured).passed is False  # four times too large
    assert ex.Tutor().check(ex.ONE_EULER_STEP_SPREAD, 0.05, *measured).passed is True
    assert ex.Tutor().check(ex.ONE_EULER_STEP_SPREAD, 0.0, *measured).passed is True  # ideally every sample is the same


def _embedding(t, d, interleave, last_is_end):
    half = d // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / (half - 1 if last_is_end else half))
    args = t[:, None].float() * freqs[None]
    return torch.stack([args.sin(), args.cos()], 2).flatten(1) if interleave else torch.cat([args.sin(), args.cos()], 1)


@pytest.mark.parametrize("interleave,last_is_end", [(True, False), (False, True), (True, True)])
def test_the_embedding_accepts_both_standard_layouts_and_says_how_they_differ(interleave, last_is_end):
    r = ex.Tutor().check(ex.SINUSOIDAL_EMBEDDING, lambda t, d: _embedding(t, d, interleave, last_is_end))
    assert r.passed is True and "library" in r.message.lower()
    assert ("interleaved" in r.message.lower()) == interleave and ("1/10000" in r.message) == last_is_end


def test_an_unknown_mistake_gets_a_diagnosis():
    want = torch.tensor([[1.0, -2.0], [3.0, 4.0], [0.5, 0.25]])
    assert "wrong sign" in core.diagnose(-want, want)
    assert "0.5 times the right one" in core.diagnose(0.5 * want, want)
    assert "off by the same +0.3" in core.diagnose(want + 0.3, want)
    wrong_late = want.clone()
    wrong_late[2] += torch.tensor([1.0, -1.0])
    message = core.diagnose(wrong_late, want, rows=["t=0", "t=500", "t=999"])
    assert "wrong at t=999, right at t=0, t=500" in message and "largest error 1" in message
    # through a check: an embedding wrong only where t > 0 (here, frequencies scaled by 2) says where
    r = ex.Tutor().check(ex.SINUSOIDAL_EMBEDDING, lambda t, d: _embedding(2 * t, d, False, False))
    assert r.passed is False and "right at t=0" in r.message


def test_the_librarys_own_function_is_named_not_passed():
    from ddpm_lib.linear import interaction_features
    from ddpm_lib.sample import slerp

    tutor = ex.Tutor()
    for exercise, fn in ((ex.INTERACTION_FEATURES, interaction_features), (ex.SLERP, slerp)):
        r = tutor.check(exercise, fn)
        assert r.passed is None and f"library's own {fn.__module__}.{fn.__name__}" in r.message
        assert "write your own version" in r.message
    assert tutor.wrong_attempts == {}
