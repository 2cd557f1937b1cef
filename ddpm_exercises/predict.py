"""*Predict, then run* exercises: the learner commits to a number or a choice before an experiment;
the check compares it with what the experiment measured and explains the gap from the measurement.

Each ``evaluate(prediction, *measured)`` takes the measured values as arguments, so the verdict
and its explanation always describe the run at hand (the smoke preset's tiny models included).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from .core import Exercise, Verdict


def _number(prediction: Any, low: float, high: float, what: str) -> float | Verdict:
    """The prediction as a float in [low, high], or the verdict that explains why it is not one."""
    if prediction is None:
        return Verdict("untouched")
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)):
        return Verdict("wrong", detail=f"Write your prediction as a number ({what}), not {type(prediction).__name__} "
                                       f"{prediction!r}.")
    value = float(prediction)
    if not (low <= value <= high) or not math.isfinite(value):
        return Verdict("wrong", detail=f"{value:g} is outside the possible range: {what}.")
    return value


def _gap(prediction: float, measured: float, fmt: str, above: str, below: str) -> str:
    if prediction > measured:
        return f"You predicted {prediction:{fmt}}, above the measured {measured:{fmt}}: {above}"
    return f"You predicted {prediction:{fmt}}, below the measured {measured:{fmt}}: {below}"


#: (prediction, measured) -> the sentence saying they agree, or None when they do not
Agreement = Callable[[float, float], "str | None"]


def within(tolerance: float, fmt: str, unit: str) -> Agreement:
    """Agreement when |prediction - measured| <= tolerance; says so in ``unit`` (e.g. "points")."""
    def agree(p: float, m: float) -> str | None:
        return f"Your {p:{fmt}} is within {unit} of the measured {m:{fmt}}." if abs(p - m) <= tolerance else None
    return agree


def within_factor(factor: float, fmt: str) -> Agreement:
    """Agreement when prediction and measurement differ by at most ``factor`` either way."""
    def agree(p: float, m: float) -> str | None:
        ok = abs(math.log(p / m)) <= math.log(factor)
        return f"Your {p:{fmt}}x is within a factor {factor:g} of the measured {m:{fmt}}x." if ok else None
    return agree


def at_most(factor: float, fmt: str) -> Agreement:
    """Agreement when the prediction is at most ``factor`` times the measurement (zero included): for a
    quantity that is ideally zero and measured as small, where a relative tolerance is the meaningful one."""
    def agree(p: float, m: float) -> str | None:
        return f"Your {p:{fmt}} is at most {factor:g} times the measured {m:{fmt}}." if p <= factor * m else None
    return agree


def judge_number(prediction: Any, measured: float, *, valid: tuple[float, float, str], agree: Agreement, fmt: str,
                 above: str, below: str, why: str) -> Verdict:
    """The verdict on a numeric prediction: untouched, out of range, in agreement, or off (with the gap)."""
    p = _number(prediction, *valid)
    if isinstance(p, Verdict):
        return p
    agreement = agree(p, measured)
    if agreement is not None:
        return Verdict("correct", detail=agreement, explanation=why)
    return Verdict("wrong", detail=_gap(p, measured, fmt, above, below), explanation=why)


def _prediction(name: str, task: str, evaluate: Callable[..., Verdict]) -> Exercise:
    """A predict-then-run exercise: no hints, since the measurement itself explains the outcome."""
    return Exercise(name, "predict, then run", task, evaluate, hints=())


# -- notebook 01 --------------------------------------------------------------------------------
def _one_shot_accuracy(prediction: Any, measured: float) -> Verdict:
    why = (f"The judge read {measured:.0%} of the one-shot samples as the digit they were made for (chance is 10%). "
           "One subtraction of the best linear noise estimate leaves roughly half the starting noise on top of "
           "the digit's average shape, so the prompt shows through but the strokes stay faint.")
    return judge_number(prediction, measured, valid=(0.0, 1.0, "a share between 0 and 1, so 40% is 0.4"),
                        agree=within(0.15, ".0%", "15 points"), fmt=".0%", above="the faint digits are often misread.",
                        below="even a faint average digit carries its class.", why=why)


ONE_SHOT_ACCURACY = _prediction(
    "predict: one-shot accuracy",
    "Before the judge runs, set predicted_one_shot_accuracy to the share (0 to 1) of one-shot samples you "
    "expect the judge to read as the digit asked for.",
    _one_shot_accuracy)


# -- notebook 02 --------------------------------------------------------------------------------
def _cosine_end(prediction: Any, measured: float, linear_end: float) -> Verdict:
    why = (f"f(T) = cos^2(pi/2) = 0, so the formula alone would give exactly 0; clipping beta at 0.999 leaves "
           f"alpha_bar_(T-1) = {measured:.1e}, a thousandth of the step before. The linear schedule ends at "
           f"{linear_end:.1e}: both leave no usable signal, which is what lets sampling start from pure noise.")
    def agree(p: float, m: float) -> str | None:
        if (p <= 1e-3 and m <= 1e-3) or (p > 0 and abs(math.log10(p / m)) <= 1):
            return f"Your {p:.1e} and the measured {m:.1e} both mean: no signal left."
        return None
    return judge_number(prediction, measured, valid=(0.0, 1.0, "alpha_bar is a share of signal variance, between 0 and 1"),
                        agree=agree, fmt=".1e", above="the schedule is built to end in pure noise.",
                        below="clipping keeps it from reaching 0.", why=why)


COSINE_ALPHA_BAR_END = _prediction(
    "predict: the cosine schedule's last alpha_bar",
    "Before running the schedule cell, set predicted_cosine_alpha_bar_end to your guess of alpha_bar at "
    "t = T-1 for the cosine schedule (a number between 0 and 1).",
    _cosine_end)


def _half_accuracy(prediction: Any, t_grid: Sequence[int], accuracies: Sequence[float],
                   alphas_cumprod: Sequence[float]) -> Verdict:
    t_half = crossing(t_grid, accuracies, 0.5)
    if prediction is None:
        return Verdict("untouched")
    if t_half is None:
        return Verdict("wrong", detail="The judge never fell below 50% in this run, so there is nothing to compare.")
    a_bar = float(alphas_cumprod[round(t_half)])
    why = (f"Under the linear schedule the judge's accuracy on x_t falls through 50% near t = {t_half:.0f}. There "
           f"alpha_bar_t = {a_bar:.2f}: the image keeps {math.sqrt(a_bar):.0%} of its amplitude under noise of "
           f"standard deviation {math.sqrt(1 - a_bar):.2f}. The class goes long before the chain ends.")
    return judge_number(prediction, t_half, valid=(0, len(alphas_cumprod) - 1, f"a time step between 0 and "
                                                  f"{len(alphas_cumprod) - 1}"),
                        agree=within(100, ".0f", "100 steps"), fmt=".0f", above="the class is lost earlier than it looks.",
                        below="the judge keeps reading digits through more noise than expected.", why=why)


def crossing(xs: Sequence[float], ys: Sequence[float], level: float) -> float | None:
    """The first x at which the piecewise-linear curve (xs, ys) falls through ``level``, or None."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if y0 >= level > y1:
            return x0 + (y0 - level) / (y0 - y1) * (x1 - x0)
    return None


HALF_ACCURACY_STEP = _prediction(
    "predict: when is half the information gone?",
    "Before the judge runs, set predicted_half_accuracy_t to the time step t (0 to 999) at which you expect "
    "the judge's accuracy on x_t under the linear schedule to fall to 50%.",
    _half_accuracy)


# -- notebook 03 --------------------------------------------------------------------------------
def _attention_ratio(prediction: Any, measured: float, tokens_ratio: float) -> Verdict:
    why = (f"Going from 8x8 to 32x32 multiplies the number of positions N by {tokens_ratio:.0f}. The projections "
           f"to queries, keys, values and output cost N C^2 and grow {tokens_ratio:.0f}-fold; the score matrix "
           f"Q K^T and its product with V cost N^2 C and grow {tokens_ratio ** 2:.0f}-fold. The measured total grew "
           f"{measured:.0f}-fold, between the two, and closer to N^2 the larger N is compared with C.")
    return judge_number(prediction, measured, valid=(1e-9, 1e12, "a positive ratio"), agree=within_factor(1.5, ".0f"),
                        fmt=".0f", above="part of the cost grows only linearly in N.",
                        below="the score matrix grows with the square of N.", why=why)


ATTENTION_COST_RATIO = _prediction(
    "predict: the cost of attention at 32x32",
    "Before the measurement, set predicted_attention_ratio to how many times more arithmetic you expect one "
    "self-attention layer to need on a 32x32 feature map than on an 8x8 one (same channels).",
    _attention_ratio)


# -- notebook 04 --------------------------------------------------------------------------------
def _zero_loss(prediction: Any, measured: float, trained: float) -> Verdict:
    why = (f"A model that always answers 0 scores the mean of eps^2, which is the noise's variance: 1 in theory, "
           f"{measured:.3f} on this batch. The trained network's loss of {trained:.3f} means it predicts all but "
           f"{trained:.0%} of the noise's variance.")
    return judge_number(prediction, measured, valid=(0.0, 1e6, "a mean squared error, 0 or more"),
                        agree=within(0.1, ".3f", "0.1"), fmt=".3f", above="the error of answering 0 is just the noise itself.",
                        below="the noise has unit variance whatever the image.", why=why)


ZERO_PREDICTOR_LOSS = _prediction(
    "predict: the loss of predicting nothing",
    "Set predicted_zero_loss to the loss you expect for a model that always predicts zero noise.",
    _zero_loss)


def _wrong_t(prediction: Any, measured: float) -> Verdict:
    why = (f"Told the middle step t = T/2 for every image, the trained network's loss was {measured:.1f} times its loss with "
           "the true t. The network uses t to know how much of what it sees is noise: at small t it should "
           "remove only faint grain, at large t almost everything.")
    return judge_number(prediction, measured, valid=(1e-9, 1e9, "a positive ratio of two losses"),
                        agree=within_factor(2, ".1f"), fmt=".1f", above="the image itself also tells the network a lot.",
                        below="the network relies on t more than it seems.", why=why)


WRONG_T_LOSS_RATIO = _prediction(
    "predict: what is t worth?",
    "Set predicted_wrong_t_ratio to how many times larger you expect the trained model's loss to be when it "
    "is told the middle step t = T/2 for every image instead of the true t.",
    _wrong_t)


# -- notebook 06 --------------------------------------------------------------------------------
def _negative_guidance(prediction: Any, measured: float, num_classes: int = 10) -> Verdict:
    chance = 1 / num_classes
    where = "below" if measured < chance else "at or above"
    why = (f"At w = -1 the judge read {measured:.0%} of the samples as the digit asked for, {where} chance "
           f"({chance:.0%}). A negative w steps from the unconditional prediction *away* from the conditional "
           "one: the sampler is pushed from the requested digit towards the other nine.")
    return judge_number(prediction, measured, valid=(0.0, 1.0, "a share between 0 and 1, so 40% is 0.4"),
                        agree=within(0.1, ".0%", "10 points"), fmt=".0%",
                        above="negative guidance does more than ignore the label.",
                        below="the model still drifts towards typical digits.", why=why)


NEGATIVE_GUIDANCE_ACCURACY = _prediction(
    "predict: guidance below zero",
    "Set predicted_negative_w_accuracy to the share (0 to 1) of samples made with w = -1 that you expect the "
    "judge to read as the digit asked for.",
    _negative_guidance)


# -- notebook 07 --------------------------------------------------------------------------------
def _fewest_steps(prediction: Any, steps: Sequence[int], accuracies: Sequence[float], level: float = 0.9) -> Verdict:
    table = ", ".join(f"{s} steps: {a:.0%}" for s, a in sorted(zip(steps, accuracies)))
    return fewest(prediction, [(s, a >= level) for s, a in zip(steps, accuracies)], f"keep {level:.0%}",
                  f"Measured DDIM accuracy: {table}.")


def fewest(prediction: Any, runs: Sequence[tuple[int, bool]], criterion: str, measured: str) -> Verdict:
    """A prediction of the fewest steps that meet ``criterion`` ("keep 90%"), against a sweep's ``runs``
    (steps, whether they met it); ``measured`` is the sentence giving the sweep's numbers."""
    p = _number(prediction, 1, 10_000, "a number of sampling steps, 1 or more")
    if isinstance(p, Verdict):
        return p
    passing = sorted(s for s, ok in runs if ok)
    failing = [s for s, ok in runs if not ok]
    if not passing:
        ok = p > max(s for s, _ in runs)
        what = f"no step count tried here {criterion.replace('keep', 'kept', 1)}"
    else:
        fewest = passing[0]
        below = [s for s in failing if s < fewest]
        low = max(below) if below else 0
        ok = low < p <= fewest
        what = (f"the fewest steps tried that {criterion} are {fewest}"
                + (f", and {low} steps fall below it" if below else ", the smallest count tried"))
        if not below and p < fewest:
            return Verdict("untested", detail=f"Your {p:.0f} steps lie below every count the sweep tried, so it can "
                                              f"neither confirm nor refute them: add {p:.0f} to the sweep's step "
                                              f"counts and run it again.", explanation=f"{measured} So {what}.")
    why = f"{measured} So {what}."
    if ok:
        return Verdict("correct", detail=f"Your {p:.0f} steps agree with the sweep.", explanation=why)
    return Verdict("wrong", detail=f"Your {p:.0f} steps do not agree with the sweep.", explanation=why)


FEWEST_DDIM_STEPS = _prediction(
    "predict: how few steps are enough?",
    "Before the sweep, set predicted_fewest_steps to the smallest number of DDIM steps you expect to keep the "
    "judge's accuracy at 90% or more.",
    _fewest_steps)


# -- notebook 08 --------------------------------------------------------------------------------
CHOICES = ("w=1", "w=3", "no difference")


def _guided_data(prediction: Any, scores_w1: Sequence[float], scores_w3: Sequence[float]) -> Verdict:
    if prediction is None:
        return Verdict("untouched")
    choice = str(prediction).replace(" ", "").lower()
    names = {c.replace(" ", ""): c for c in CHOICES}
    if choice not in names:
        return Verdict("wrong", detail=f"Choose one of {', '.join(repr(c) for c in CHOICES)}, not {prediction!r}.")
    mean1, mean3 = (sum(s) / len(s) for s in (scores_w1, scores_w3))
    spread = standard_error_of_difference(scores_w1, scores_w3)
    diff = mean3 - mean1
    measured = "no difference" if abs(diff) <= 2 * spread else ("w=3" if diff > 0 else "w=1")
    why = (f"Over {len(scores_w1)} classifier seeds, training on w=1 samples gave {mean1:.1%} and on w=3 samples "
           f"{mean3:.1%} on the real test digits: a difference of {diff:+.1%} against a standard error of "
           f"{spread:.1%}, so the measured answer is '{measured}'.")
    if names[choice] == measured:
        return Verdict("correct", detail="Your choice agrees with the measurement.", explanation=why)
    return Verdict("wrong", detail=f"You chose '{names[choice]}'.", explanation=why)


def standard_error_of_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """Standard error of mean(b) - mean(a) for two independent samples (sample variances, n - 1)."""
    def var(xs: Sequence[float]) -> float:
        m = sum(xs) / len(xs)
        return sum((x - m) ** 2 for x in xs) / max(1, len(xs) - 1)
    return math.sqrt(var(a) / len(a) + var(b) / len(b))


GUIDED_TRAINING_DATA = _prediction(
    "predict: guided samples as training data",
    f"Set predicted_better_training_data to one of {', '.join(repr(c) for c in CHOICES)}: which generated "
    "training set gives the classifier that reads real digits best?",
    _guided_data)


# -- notebook 10 --------------------------------------------------------------------------------
def _one_euler_step(prediction: Any, measured: float, real: float) -> Verdict:
    why = (f"At s = 1 the input is pure noise, independent of the digit, so the best velocity is "
           f"v(x, 1) = x - E[x_0 | label], and one Euler step to s = 0 lands on x - v = E[x_0 | label]: the "
           f"average digit of that class, whatever the noise. The samples differed by {measured:.3f} per pixel "
           f"(the model's error), against {real:.3f} between real digits of one class: every one-step sample is "
           f"the same blurred average. Variety comes from the later steps, where the path bends.")
    return judge_number(prediction, measured, valid=(0.0, 2.0, "a standard deviation of pixels in [-1, 1], "
                                                     "between 0 and 2"),
                        agree=at_most(2.0, ".3f"), fmt=".3f",
                        above="one step cannot use the noise at all.",
                        below="the model's estimate of the average still moves a little with the noise.", why=why)


ONE_EULER_STEP_SPREAD = _prediction(
    "predict: one Euler step",
    "Before the next cell runs, set predicted_one_step_spread to the per-pixel standard deviation (0 to 2) you "
    "expect between 16 samples of the same digit drawn with a single Euler step from 16 different noises.",
    _one_euler_step)


# -- notebook 09 --------------------------------------------------------------------------------
def _latent_speedup(prediction: Any, measured: float, flops_ratio: float, positions_ratio: float) -> Verdict:
    why = (f"The latent UNet reads {positions_ratio:.0f} times fewer positions, but it is not the pixel UNet "
           f"shrunk: it has its own widths and levels, and its forward pass costs {flops_ratio:.1f} times fewer "
           f"FLOPs. Training ran {measured:.1f} times more images per second. Speed follows the FLOPs, not the "
           f"number of positions; and on small feature maps each operation does little work, so the fixed cost of "
           f"every call takes a larger share than at 32x32.")
    return judge_number(prediction, measured, valid=(0.01, 1000.0, "a ratio of two speeds, e.g. 16 for sixteen "
                                                     "times faster"),
                        agree=within_factor(1.5, ".1f"), fmt=".1f",
                        above="the latent model spends its savings on width.",
                        below="fewer positions shrink every convolution's work.", why=why)


LATENT_SPEEDUP = _prediction(
    "predict: the latent model's training speed-up",
    "Before the next cell runs, set predicted_speedup to how many times more training images per second you "
    "expect the latent UNet to process than the pixel UNet.",
    _latent_speedup)


# -- notebook 11 --------------------------------------------------------------------------------
def _reflow_steps(prediction: Any, steps: Sequence[int], frechet: Sequence[float], teacher: float,
                  margin: float = 0.1) -> Verdict:
    table = ", ".join(f"{s} steps: {f:.3f}" for s, f in sorted(zip(steps, frechet)))
    return fewest(prediction, [(s, f <= (1 + margin) * teacher) for s, f in zip(steps, frechet)],
                  f"come within {margin:.0%} of the teacher",
                  f"Measured Fréchet distance of the reflowed model with Euler's method: {table}; the teacher's, with "
                  f"30 network evaluations: {teacher:.3f}. Reflow straightened the paths, so Euler's first step already "
                  f"points at the digit the teacher would have drawn from the same noise.")


FEWEST_REFLOW_STEPS = _prediction(
    "predict: how few steps after reflow?",
    "Before the sweep, set predicted_reflow_steps to the smallest number of Euler steps you expect the reflowed "
    "model to need to come within 10% of the teacher's Fréchet distance (the teacher takes 30 network evaluations).",
    _reflow_steps)


ALL: tuple[Exercise, ...] = (ONE_SHOT_ACCURACY, COSINE_ALPHA_BAR_END, HALF_ACCURACY_STEP, ATTENTION_COST_RATIO,
                             ZERO_PREDICTOR_LOSS, WRONG_T_LOSS_RATIO, NEGATIVE_GUIDANCE_ACCURACY, FEWEST_DDIM_STEPS,
                             GUIDED_TRAINING_DATA, LATENT_SPEEDUP, ONE_EULER_STEP_SPREAD, FEWEST_REFLOW_STEPS)
