"""Concept checks: short questions asked where an idea was just taught, each wrong answer explained.

A multiple-choice question takes a letter; a numeric one takes a number. A wrong choice (or a
known wrong number) gets the sentence that says why it is wrong, and the learner tries again; the
right one gets the reason it is right. Untouched (``answer = None``), a question says "not
attempted", like every exercise. In a notebook, the question and its choices are a markdown cell
(:func:`markdown`, kept in step by ``tests/test_concepts.py``), and the check is one line::

    answer = None  # your letter
    tutor.check(ex.WHY_KEEP_VARIANCE, answer)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .core import Exercise, Verdict

LETTERS = "abcdef"


@dataclass(frozen=True)
class Question:
    """What a concept check asks: its text, its choices (none for a numeric question), the right answer (a
    letter or a number) and, for a numeric question, the known wrong numbers."""

    text: str
    choices: tuple[tuple[str, str], ...]
    right: str | float
    wrong: tuple[float, ...] = ()


#: every concept check's question, by exercise name: what :func:`markdown` shows
QUESTIONS: dict[str, Question] = {}


def _letters(n: int) -> str:
    return f"Answer with one letter: {', '.join(LETTERS[:n - 1])} or {LETTERS[n - 1]}"


def _choice_evaluate(choices: tuple[tuple[str, str], ...], right: str, why: str) -> Callable[[Any], Verdict]:
    letters = LETTERS[:len(choices)]

    def evaluate(answer: Any) -> Verdict:
        if answer is None:
            return Verdict("untouched")
        letter = str(answer).strip().strip("()").lower()
        if letter not in letters:
            return Verdict("wrong", detail=f"{_letters(len(choices))}; got {answer!r}.")
        if letter == right:
            return Verdict("correct", detail=f"({letter}) is right.", explanation=why)
        return Verdict("wrong", mistake=letter, detail=f"({letter}) is not it.")
    return evaluate


def choice(name: str, question: str, choices: tuple[tuple[str, str], ...], right: str, why: str) -> Exercise:
    """A multiple-choice concept check; ``right`` is the letter of the right choice, whose second element is ""."""
    index = LETTERS.index(right)
    if not 2 <= len(choices) <= len(LETTERS) or choices[index][1]:
        raise ValueError(f"concept check {name!r}: 2 to {len(LETTERS)} choices, the right one ({right}) unexplained")
    mistakes = {LETTERS[i]: wrong for i, (_, wrong) in enumerate(choices) if i != index}
    ex = Exercise(name, "concept check", f"{_letters(len(choices))}.",
                  _choice_evaluate(choices, right, why), hints=(), mistakes=mistakes)
    QUESTIONS[name] = Question(question, choices, right)
    return ex


def number(name: str, question: str, value: float, tolerance: float, why: str,
           wrong: tuple[tuple[float, str], ...] = ()) -> Exercise:
    """A numeric concept check: right within ``tolerance`` of ``value``; each ``wrong`` (value, why) is a known
    mistake, recognised within 10% of its value (within ``tolerance`` of 0)."""
    def evaluate(answer: Any) -> Verdict:
        if answer is None:
            return Verdict("untouched")
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not math.isfinite(answer):
            return Verdict("wrong", detail=f"Answer with a number; got {answer!r}.")
        if abs(answer - value) <= tolerance:
            return Verdict("correct", detail=f"{answer:g} is right.", explanation=why)
        for i, (known, _) in enumerate(wrong):
            if abs(answer - known) <= (0.1 * abs(known) or tolerance):
                return Verdict("wrong", mistake=str(i), detail=f"{answer:g} is not it.")
        return Verdict("wrong", detail=f"{answer:g} is not it.")
    ex = Exercise(name, "concept check", "Answer with a number.", evaluate,
                  hints=("Go back to the equation in the cell above the question and put the numbers in.",),
                  mistakes={str(i): text for i, (_, text) in enumerate(wrong)})
    QUESTIONS[name] = Question(question, (), value, tuple(v for v, _ in wrong))
    return ex




def markdown(exercise: Exercise) -> str:
    """The notebook's markdown cell for a concept check: the question, then one line per choice."""
    question = QUESTIONS[exercise.name]
    lines = [f"**Concept check: {exercise.name}.** {question.text}"]
    if question.choices:
        lines.append("")
        lines += [f"- ({letter}) {text}" for letter, (text, _) in zip(LETTERS, question.choices)]
    return "\n".join(lines)


# -- notebook 01 ----------------------------------------------------------------------------------
NO_INTERACTIONS = choice(
    "features without interactions",
    "Drop the interaction terms and keep the features $[z, c]$. What can the linear denoiser still do with the prompt?",
    (("Add a fixed offset per digit to its noise estimate, with one map of the latent shared by every digit.", ""),
     ("Nothing: the prompt would be ignored.",
      "The one-hot $c$ still enters linearly, so each digit gets its own weights on it: a constant offset per digit. "
      "The prompt is not ignored; it just cannot change how the latent is read."),
     ("Apply a different linear map of the latent for each digit.",
      "That is what the products $c_j z_i$ add. Without them the weights on $z$ are the same whatever the prompt.")),
    "a",
    "Linear in $[z, c]$ means the weights on $z$ are shared by all prompts and $c$ adds a constant per digit. The "
    "interaction terms give every digit its own linear map of the latent.")

ONE_SHOT_BLEND = choice(
    "one subtraction",
    "A latent dimension has variance $\\sigma^2 = 1$. The best linear noise estimate is subtracted once from "
    "$y = z + \\epsilon$. What is left?",
    (("The clean latent $z$.",
      "A linear estimate cannot tell $z$ from $\\epsilon$ when both have the same variance; it can only split $y$ "
      "in proportion to the two variances."),
     ("About half of $y$ plus half of the digit's mean.", ""),
     ("Exactly the digit's mean.",
      "That would remove all of $y$'s deviation from the mean, but half of that deviation is signal that a "
      "linear estimate cannot tell from noise."),
     ("Pure noise again.", "The estimate removes part of the noise and pulls towards the digit's mean, so "
                           "the digit shows through, faintly.")),
    "b",
    "The best linear guess of the noise is $(y - \\mu_c)/(\\sigma^2 + 1)$, so one subtraction leaves "
    "$\\tfrac{\\sigma^2}{\\sigma^2+1}y + \\tfrac{1}{\\sigma^2+1}\\mu_c$: half and half at $\\sigma^2 = 1$. Hence the "
    "faint digits.")

LINEAR_LIMIT = choice(
    "what limits the linear model",
    "Even perfectly fitted, the multi-step linear model draws only \"average\" digits. Why?",
    (("It has too few noise levels.",
      "More bands would fit each level better, but each band's denoiser would still be linear."),
     ("A linear denoiser can describe only one Gaussian per digit in latent space.", ""),
     ("Forty PCA components lose too much.",
      "The reconstructions with 40 components are readable digits; the samples are worse than the "
      "reconstructions, so the codec is not the limit.")),
    "b",
    "A denoiser linear in the latent is exactly right for Gaussian data and for nothing else, so the best it "
    "can do is one Gaussian per digit: straight-line mixes of principal directions around the digit's mean. "
    "Handwriting has curved, many-shaped variation, which a network can learn.")

# -- notebook 02 ----------------------------------------------------------------------------------
WHY_SHRINK = choice(
    "why shrink before adding noise",
    "Why does each forward step multiply $x_{t-1}$ by $\\sqrt{1-\\beta_t}$ before adding noise of variance $\\beta_t$?",
    (("To keep the variance at 1, so that $x_T$ is standard noise.", ""),
     ("To make each step exactly reversible.",
      "No Gaussian noising step is exactly reversible; the factor is about scale, not about information."),
     ("To destroy the image faster.",
      "Without it the image would be buried more slowly *and* the variance would grow: the $\\beta_t$ of the linear "
      "schedule add up to about 10, so $x_T$ would have variance about 11 and not match $\\mathcal N(0, I)$.")),
    "a",
    "If $x_{t-1}$ has unit variance, $(1-\\beta_t)\\cdot 1 + \\beta_t = 1$: the variance stays put at every step, and "
    "after enough steps $x_T$ is standard Gaussian noise, the distribution sampling starts from.")

WHY_ALPHA_BAR_ZERO = choice(
    "what alpha_bar_T near 0 buys",
    "Both schedules end with $\\bar\\alpha_{T-1}$ close to 0. What does that buy?",
    (("Cheaper training: the last levels cost nothing.",
      "Training costs the same at every level: `q_sample` is one line for any $t$."),
     ("$x_T$ is standard noise whatever the image, so sampling can start from $\\mathcal N(0, I)$.", ""),
     ("The network no longer needs to know $t$.",
      "It needs $t$ more than ever: the right denoising at $t = 10$ and at $t = 900$ differ enormously.")),
    "b",
    "With $\\bar\\alpha_T \\approx 0$, $x_T = \\sqrt{\\bar\\alpha_T}x_0 + \\sqrt{1-\\bar\\alpha_T}\\epsilon$ is $\\epsilon$ for every "
    "image: the distribution at the end of the forward process is known, and it is where the reverse process "
    "starts. If some signal were left, samples would start from a level the model never saw.")

PIXELS_0_255 = number(
    "pixels in [0, 255]",
    "Suppose pixels were left in $[0, 255]$. At the last step of the linear schedule, "
    "$\\bar\\alpha_{T-1} \\approx 4 \\cdot 10^{-5}$. How large is the image's part $\\sqrt{\\bar\\alpha_{T-1}}\\,x_0$ "
    "of a white pixel (255)? One decimal is enough.",
    1.6, 0.3,
    "$\\sqrt{4\\cdot 10^{-5}} \\approx 0.0063$, times 255 is about 1.6: larger than the noise's standard deviation "
    "of 1. The \"pure noise\" end would still show the image, and sampling from $\\mathcal N(0, I)$ would start "
    "somewhere the model never saw. In $[-1, 1]$ the same pixel keeps 0.006.",
    wrong=((0.0063, "That is $\\sqrt{\\bar\\alpha}$ for a pixel of 1; this pixel is 255."),
           (0.01, "That is $\\bar\\alpha \\cdot 255$: the image's part is scaled by the square root of $\\bar\\alpha$.")))

# -- notebook 03 ----------------------------------------------------------------------------------
WHY_MANY_FREQUENCIES = choice(
    "why many frequencies",
    "Why does the timestep embedding use $d/2$ frequencies instead of one $\\sin(\\omega t)$?",
    (("One frequency repeats: distant steps would get the same value. Fast frequencies tell neighbours apart, "
      "slow ones tell early from late.", ""),
     ("More frequencies give the embedding more parameters to learn.",
      "The sinusoidal embedding has no parameters at all; the MLP after it does."),
     ("So that the embedding's length grows with $t$.",
      "Every embedding has the same length, $\\sqrt{d/2}$: each sine-cosine pair contributes 1.")),
    "a",
    "A single sine is periodic, so it cannot give every step its own value, and a slow one barely separates "
    "neighbours. Frequencies spread geometrically from 1 to about $1/10000$ give every step a distinct vector, "
    "with nearby steps similar: the similarity matrix above.")

BATCHNORM_ERASES_TIME = choice(
    "what BatchNorm does to t",
    "During sampling every image of a batch has the same $t$. Why does a time embedding added *before* BatchNorm "
    "(statistics of the batch) stop reaching the output?",
    (("BatchNorm's learned scale starts at zero.", "It starts at one; the loss of $t$ is in the normalisation itself."),
     ("The embedding adds the same constant to a channel across the whole batch, and BatchNorm subtracts the "
      "batch mean of each channel.", ""),
     ("The embedding is too small next to the features.",
      "A large embedding is subtracted just as completely: it is part of the batch mean whatever its size.")),
    "b",
    "A constant shared by the batch is part of every channel's batch mean, so normalising removes it exactly. "
    "GroupNorm normalises each image on its own, and AdaGN lets $t$ in *after* normalising, as a scale and shift.")

ATTENTION_AT_BOTTLENECK = choice(
    "why attention only at the bottleneck",
    "Why does the SimpleUNet use self-attention only at its 4x4 bottleneck?",
    (("Attention does not work on large feature maps.", "It works at any size; it is the cost that grows."),
     ("Its score matrix costs $4N^2C$, quadratic in the positions: cheap at $N = 16$, dominant at $N = 1024$.", ""),
     ("Convolutions already see the whole image at 32x32.",
      "A 3x3 convolution sees a 3x3 neighbourhood; only depth widens its view.")),
    "b",
    "The projections grow like $N$, the score matrix and its product with $V$ like $N^2$. At 4x4 attention is "
    "cheap and gives every position a view of the whole image; at 32x32 the $N^2$ part would dominate the "
    "network's cost (the exercise above measured it). Notebook 09 answers this cost differently: latents.")

# -- notebook 04 ----------------------------------------------------------------------------------
WHY_RANDOM_T = choice(
    "why a random t per image",
    "Sampling walks $t$ from $T-1$ down to 0. Why does Algorithm 1 instead draw one random $t$ per image at every "
    "training step?",
    (("The closed form reaches any level in one line, so each step trains a random level of each image: an "
      "unbiased estimate of the sum over all levels, with no chain to run.", ""),
     ("The order does not matter, because the network ignores $t$.",
      "The network is told $t$, and the right answer depends on it enormously (notebook 03)."),
     ("Random levels are needed for the EMA of the weights.",
      "EMA averages weights over steps whatever the data; it places no demand on $t$.")),
    "a",
    "$x_t = \\sqrt{\\bar\\alpha_t}x_0 + \\sqrt{1-\\bar\\alpha_t}\\epsilon$ needs no loop over steps, and the loss is a sum "
    "over levels; drawing $t$ uniformly estimates that sum without bias at the price of one level per image.")

DROPPED_WEIGHT = choice(
    "what dropping the weight does",
    "$L_{\\text{simple}}$ drops the weight $\\beta_t^2 / (2\\sigma_t^2\\alpha_t(1-\\bar\\alpha_t))$ of the bound. That weight "
    "is largest at small $t$. Where does dropping it move the training effort?",
    (("Towards the noisier levels.", ""),
     ("Towards the nearly clean levels.",
      "The weight was largest there; dropping it lowers their share, not raises it."),
     ("Nowhere: the weight is the same at every level.",
      "It is not: with $\\sigma_t^2 = \\beta_t$ it falls from 0.5 at the first level to about 0.01 at the last.")),
    "a",
    "Relative to the bound, every level now counts the same, so the small-$t$ levels lose their large weight and "
    "the noisier ones gain. Ho et al. found this gives better samples at a small cost in likelihood.")

MIN_SNR_WEIGHT = number(
    "a min-SNR weight",
    "With min-SNR-$\\gamma$ and $\\gamma = 5$, by what number is an image's $\\epsilon$ error multiplied at a level where "
    "$\\mathrm{SNR}_t = 100$?",
    0.05, 0.005,
    "$\\min(\\mathrm{SNR}, \\gamma)/\\mathrm{SNR} = 5/100 = 0.05$: the nearly clean level counts twenty times less. At "
    "levels with $\\mathrm{SNR} \\le 5$ the weight is 1 and nothing changes.",
    wrong=((5.0, "That is the weight of the *clean-image* error, $\\min(\\mathrm{SNR}, \\gamma)$; the $\\epsilon$ error "
                 "is divided by SNR once more."),
           (1.0, "That is the weight at the noisy levels, where $\\mathrm{SNR} \\le \\gamma$.")))

WHY_EMA = choice(
    "why sample with the EMA",
    "Why does the course sample with the EMA of the weights rather than the last weights?",
    (("The EMA makes training converge in fewer steps.",
      "The EMA does not touch training at all: the optimiser never sees it."),
     ("SGD noise makes the raw weights jitter around a good region; their average sits nearer its centre.", ""),
     ("The EMA model is smaller and faster.", "It is a full copy of the same network.")),
    "b",
    "Each step moves the raw weights by a noisy gradient, so the last weights are one random point of that "
    "jitter. An average over the last thousand or so steps ($d = 0.999$) cancels much of it; the judge compared the two above.")

# -- notebook 05 ----------------------------------------------------------------------------------
MEAN_PLUGS_IN = choice(
    "what the reverse mean plugs in",
    "The reverse step's mean $\\mu_\\theta$ is the posterior mean $\\tilde\\mu_t$ of $q(x_{t-1}\\mid x_t, x_0)$ with "
    "something in place of $x_0$. What?",
    (("The training image the sample came from.", "At sampling time there is no training image: that is the point."),
     ("$x_t$ itself.", "That would pretend $x_t$ were clean; the mean would keep all of its noise."),
     ("The network's estimate $\\hat x_0$, computed from $\\epsilon_\\theta(x_t, t)$.", "")),
    "c",
    "$\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\epsilon_\\theta)/\\sqrt{\\bar\\alpha_t}$, and substituting it into "
    "$\\tilde\\mu_t$ gives the mean of Algorithm 2 (the three steps above).")

SCORE_FROM_EPS = number(
    "a score from a noise estimate",
    "At a level with $1 - \\bar\\alpha_t = 0.25$ the network predicts $\\epsilon_\\theta = 0.4$ at one pixel. What is the "
    "score $s_\\theta$ there?",
    -0.8, 0.01,
    "$s_\\theta = -\\epsilon_\\theta/\\sqrt{1-\\bar\\alpha_t} = -0.4/0.5 = -0.8$: the score points against the predicted "
    "noise, towards likelier images.",
    wrong=((0.8, "Right size, wrong sign: the score points *against* the noise."),
           (-1.6, "That divides by $1 - \\bar\\alpha_t$; the score divides by its square root, the noise's standard "
                  "deviation."),
           (-0.4, "The noise estimate must be divided by the noise's standard deviation, $\\sqrt{0.25}$.")))

ANNEALING = choice(
    "why anneal",
    "Plain Langevin dynamics found the three components but not their weights. Why does the annealed version "
    "get the shares right?",
    (("Its steps are smaller.", "Smaller steps would make crossings between components rarer still."),
     ("At high noise the density is one smooth bump every point can explore; the components separate "
      "gradually, so each receives its share.", ""),
     ("It uses a more accurate score.", "Both runs used the exact score of the mixture.")),
    "b",
    "A point rarely crosses the empty region between components, so plain Langevin keeps the shares of the "
    "starting basins. Following the scores of decreasing noise levels lets the mass distribute itself before "
    "the components separate; Algorithm 2 is this walk.")

COPY_DETECTOR = choice(
    "which number catches copying",
    "A model draws perfect copies of training digits. Which of the judge's numbers reveals it?",
    (("Conditional accuracy.", "Copies are real digits: the judge reads them correctly, so accuracy stays high."),
     ("Fréchet distance.",
      "Copies of many training digits have the features of real digits, so the Fréchet distance can be low too."),
     ("The memorisation numbers, `nn_ratio` and `copied_fraction`.", "")),
    "c",
    "Only a comparison with the training set itself catches copying: samples that sit much nearer to a training "
    "image than held-out digits do give `nn_ratio` near 0 and `copied_fraction` far above 0.01.")

# -- notebook 06 ----------------------------------------------------------------------------------
WHY_DROP_LABELS = choice(
    "why drop labels",
    "Why is each label replaced by the null label 10% of the time during training?",
    (("So that the same network also learns the unconditional $\\epsilon_\\theta(x_t, t, \\varnothing)$ that guidance "
      "needs.", ""),
     ("To regularise: the network must not rely on labels too much.",
      "Any regularising effect is a side effect; guidance needs the unconditional prediction, and this is how "
      "one network learns it."),
     ("To make training 10% cheaper.", "Every image still goes through the network; only its label changes.")),
    "a",
    "Classifier-free guidance combines the conditional and the unconditional prediction. Dropping labels trains "
    "both in one network at no extra cost.")

GUIDE_EPS = choice(
    "why guide eps",
    "Guidance combines two predicted noises, not two images $x_t$. Why?",
    (("Both branches see the same $x_t$; they differ only in their $\\epsilon$, a scaled score, so mixing them mixes "
      "the scores of $p(x_t)$ and $p(x_t\\mid y)$ and the sampler uses the result as any prediction.", ""),
     ("Guidance needs the gradient of a classifier, which only $\\epsilon$ provides.",
      "Classifier-free guidance uses no classifier and no gradient: the two predictions are the whole recipe."),
     ("Mixing images would cost twice as many network calls.",
      "It is the same two calls either way; the question is what to mix.")),
    "a",
    "$\\epsilon_\\theta = -\\sqrt{1-\\bar\\alpha_t}\\,\\nabla\\log p$, so the guided $\\tilde\\epsilon$ is the score of "
    "$p(x_t)\\,p(y\\mid x_t)^w$: sharper towards the label. Every sampler takes it in place of $\\epsilon_\\theta$.")

PAPER_W = number(
    "the paper's w",
    "The classifier-free guidance paper writes $(1+w')\\epsilon_\\theta(x_t, t, y) - w'\\epsilon_\\theta(x_t, t, \\varnothing)$. "
    "A paper reports its best samples at $w' = 3$. What is that in the course's $w$?",
    4.0, 0.01,
    "Expand the course's form: $\\epsilon_\\varnothing + w(\\epsilon_y - \\epsilon_\\varnothing) = w\\epsilon_y - (w-1)\\epsilon_\\varnothing$, "
    "so $w = w' + 1 = 4$.",
    wrong=((2.0, "The course's $w$ is one *more* than the paper's $w'$: $w'= 0$ is the course's $w = 1$."),
           (3.0, "The two conventions differ by one: $w = w' + 1$.")))

# -- notebook 07 ----------------------------------------------------------------------------------
NO_RETRAINING = choice(
    "why DDIM needs no retraining",
    "Why can DDIM sample a model trained for DDPM without retraining it?",
    (("Training used only the marginals $q(x_t\\mid x_0)$, and DDIM's process has the same marginals.", ""),
     ("DDIM retrains the last layer on the fly.", "DDIM changes only the sampler; the weights are untouched."),
     ("Training ran the step-by-step chain, which DDIM also runs.",
      "Training never ran the chain: every level came from the closed form in one line.")),
    "a",
    "The loss only ever sees $x_t$ drawn from $q(x_t\\mid x_0)$, so any forward process with the same marginals "
    "trains the same network; DDIM picks one whose reverse steps can skip levels.")

DETERMINISTIC = choice(
    "two runs from one noise",
    "DDIM with $\\eta = 0$ runs twice from the same $x_T$, once with each of two different random generators. "
    "What do you get?",
    (("Two different digits.", "The label fixes the digit, and with $\\eta = 0$ nothing random remains anyway."),
     ("The same digit with different strokes.", "Different strokes need fresh noise during the run; $\\eta = 0$ adds none."),
     ("The same image twice.", "")),
    "c",
    "With $\\eta = 0$, $\\sigma = 0$: no fresh noise is drawn after $x_T$, so the sample is a deterministic function of "
    "the starting noise. That is what makes inversion and interpolation possible.")

SECOND_ORDER = number(
    "what doubling the steps buys",
    "A second-order solver's error falls as $1/N^2$ in the number of steps $N$. By what factor does its error "
    "fall when $N$ doubles?",
    4.0, 0.01,
    "$(1/(2N))^2 = \\tfrac14 (1/N)^2$. A first-order solver such as DDIM only halves its error.",
    wrong=((2.0, "That is a first-order solver such as DDIM (error $\\propto 1/N$)."),
           (8.0, "That is the error of one step ($h^3$); with twice as many steps the total falls as $h^2$.")))

SLERP_WHY = choice(
    "why spherical",
    "Why interpolate between two noises spherically rather than along the straight line?",
    (("The straight line is slower to compute.", "Both are a handful of operations."),
     ("Midway along the straight line the vector is too short to be typical noise; the sphere keeps its length.", ""),
     ("Spherical interpolation gives exactly the images in between.",
      "No interpolation knows the images in between; slerp only keeps the model's input typical.")),
    "b",
    "A Gaussian vector in $d = 1024$ dimensions has length close to $\\sqrt d$. The midpoint of two independent "
    "ones has length about $\\sqrt{d/2}$, a noise level the sampler never starts from.")

# -- notebook 08 ----------------------------------------------------------------------------------
CAS_VARIETY = choice(
    "what CAS sees",
    "A generator draws only the three most typical styles of each digit, each perfectly. The judge reads every "
    "sample correctly. What happens to its Classification Accuracy Score?",
    (("It beats real data: the samples are cleaner.", "A classifier trained on clean typical digits has never seen "
                                                      "the unusual ones, and real test digits include them."),
     ("It falls below real data: the classifier never sees the real variety.", ""),
     ("It equals real data: every sample is correct.",
      "Correct is not enough: the classifier learns from what the samples cover, not from whether each is right.")),
    "b",
    "CAS tests the generator's coverage of the real distribution; judge accuracy tests only that each sample is "
    "the right digit. A generator can ace the second and fail the first.")

NOISED_KNOWN = choice(
    "why noise the known pixels",
    "Inpainting replaces the known pixels by the real image *noised to the current level*. Why not by the clean "
    "real pixels?",
    (("At level $t'$ the model expects $x_{t'}$ everywhere; clean pixels beside noisy ones are an input it never "
      "saw in training.", ""),
     ("To hide the known pixels from the model.", "The model sees the noised known pixels; that is how it learns what "
                                                 "to fit."),
     ("It saves one network call per step.", "The number of calls is the same either way.")),
    "a",
    "Every input the network saw in training was uniformly noised. Noising the known part to the current level "
    "keeps the merged image such an input, so the model's prediction for the unknown part stays meaningful.")

RESAMPLE = choice(
    "why resample",
    "Why does RePaint repeat each reverse step, jumping back up one level with fresh noise in between?",
    (("To average away the noise in the known pixels.", "The known pixels are replaced at every step anyway."),
     ("The generated part is made at each step without seeing the known part at that step; repeating lets the "
      "two agree.", ""),
     ("Because the unconditional model needs twice as many steps.",
      "The model is the same; it is the merge that needs the repeats.")),
    "b",
    "The known part is pasted in *after* the model's step, so the model's prediction never saw it at that level. "
    "Going back up and stepping down again lets the generated part adapt to it: seams fade.")

# -- notebook 09 ----------------------------------------------------------------------------------
SCALE_FACTOR_FIXES = choice(
    "what the scale factor fixes",
    "What does the latent scale factor $f = 1/\\mathrm{std}$ fix?",
    (("It centres the latents at zero.", "Multiplying by one number does not move the mean to zero."),
     ("The schedule assumes data of about unit spread; scaled latents meet the noise on equal terms, as pixels "
      "in $[-1, 1]$ do.", ""),
     ("It makes the decoder invertible.", "The decoder is unchanged: samples are divided by $f$ before decoding.")),
    "b",
    "With latents of standard deviation 0.2, say, the same noise level would bury them five times sooner and the "
    "schedule's SNRs would mean something else. One number restores the scale the schedule was designed for.")

POSITIONS_RATIO = number(
    "attention's saving",
    "From a 32x32 grid to an 8x8 one, by what factor falls the $4N^2C$ part of one attention layer (same $C$)?",
    256.0, 0.5,
    "$N$ falls from 1024 to 64, 16 times; $N^2$ falls $16^2 = 256$ times.",
    wrong=((16.0, "That is the number of positions, $N$; the score matrix grows with $N^2$."),
           (4.0, "That is the side of the grid; the positions are the side squared, and the cost is their square.")))

AUTOENCODER_FLOOR = choice(
    "the autoencoder's floor",
    "Why is the autoencoder's own Fréchet distance (its reconstructions against held-out digits) a floor for "
    "every latent model trained on it?",
    (("Every sample passes through the decoder, so the decoder's errors are in every sample.", ""),
     ("The judge was trained on reconstructions.", "The judge was trained on real digits only."),
     ("The diffusion model copies the reconstructions.",
      "It samples new latents; still, whatever it draws, the decoder renders it, with the decoder's errors.")),
    "a",
    "A perfect latent model would draw latents exactly like the encoder's, and its images would be exactly "
    "like the reconstructions: no better. Any error of the latent model adds to that floor.")

# -- notebook 10 ----------------------------------------------------------------------------------
STRAIGHT_VELOCITY = choice(
    "the straight path's velocity",
    "On the straight path $x_s = (1-s)x_0 + s\\,\\epsilon$, what is $dx_s/ds$?",
    (("$x_0 - \\epsilon$.", "Sign: $s$ runs from the data ($s = 0$) to the noise ($s = 1$), so the path moves towards "
                            "$\\epsilon$."),
     ("$\\epsilon - x_0$.", ""),
     ("$\\epsilon$.", "Differentiate both terms: $(1-s)x_0$ contributes $-x_0$.")),
    "b",
    "$d/ds\\,[(1-s)x_0 + s\\epsilon] = \\epsilon - x_0$, constant along the line: the network's target.")

X0_FROM_VELOCITY = number(
    "a clean image from a velocity",
    "On the straight path at $s = 0.25$, one pixel has $x = 0.3$ and the model's velocity is $v = 0.4$. What is "
    "$\\hat x_0$ there?",
    0.2, 0.01,
    "$\\hat x_0 = x - s\\,v = 0.3 - 0.25 \\cdot 0.4 = 0.2$: walk back along the line to $s = 0$.",
    wrong=((0.4, "Sign: the velocity points towards the noise, so the clean image lies at $x - s\\,v$."),
           (0.6, "That is $\\hat\\epsilon = x + (1-s)\\,v$, the other end of the line."),
           (0.0, "That steps back by $(1-s)\\,v$; from $s$ to 0 the distance is $s\\,v$.")))

HEUN_CALLS = number(
    "Heun's cost",
    "How many network calls do 8 Heun steps cost per image (no guidance)?",
    15.0, 0.01,
    "Seven steps of two calls, and the last step to $s = 0$ is Euler's, with one: $2 \\cdot 8 - 1 = 15$.",
    wrong=((16.0, "The last step, to $s = 0$, is an Euler step: one call, not two."),
           (8.0, "Heun's corrector reads the velocity a second time at Euler's end point: two calls per step.")))

PATHS_DO_NOT_CROSS = choice(
    "why ODE paths do not cross",
    "The straight lines training draws between noise and data cross each other, yet the ODE's paths never do. Why?",
    (("The network is too small to learn crossings.", "Even the exact velocity of the toy gives paths that never "
                                                      "cross: the panel on the right uses it."),
     ("An ODE has one velocity at each point: two paths that met would continue together from there.", ""),
     ("Heun's corrector pushes them apart.", "Euler's paths do not cross either; the reason is the ODE, not the solver.")),
    "b",
    "The learned velocity at a point is the average of all the training lines through it, one vector, so the "
    "solutions of the ODE cannot cross; they bend instead. Straighter paths, with fewer bends, allow fewer steps.")

# -- notebook 11 ----------------------------------------------------------------------------------
ONE_STEP_AFTER_REFLOW = choice(
    "one step after reflow",
    "In notebook 10 one Euler step from pure noise drew the same blurred average digit whatever the noise. After "
    "reflow one step draws a different, sharp digit for each noise. What changed?",
    (("The reflowed network is larger.", "It is the same UNet, started from the teacher's weights."),
     ("Each noise is now paired with one digit, so the velocity at $s = 1$ depends on the noise: $v(\\epsilon, 1) = \\epsilon - x_0(\\epsilon)$.",
      ""),
     ("Euler's method is exact for any ODE when it takes one step.", "One step is exact only on a straight path walked "
                                                                     "at constant speed; reflow makes the paths so.")),
    "b",
    "With independent pairs, pure noise says nothing about the image, so the best velocity at $s = 1$ points at the "
    "average image. The teacher's ODE ties each noise to one image; trained on those pairs, the velocity at $s = 1$ "
    "points at that image, and the straight line gets there in one step.")

REFLOW_LOSS_FLOOR = choice(
    "why flow matching's loss has a floor",
    "On the Gaussian, reflow's loss at its optimum is 0, while flow matching's stays above 0 however well the "
    "network is trained. Why?",
    (("Reflow trains with a smaller learning rate.", "The optimum does not depend on the optimiser: the printed "
                                                     "numbers are the exact minima."),
     ("With independent pairs, lines with different velocities pass through the same point; the network can give "
      "only their average, and their spread around it is the floor.", ""),
     ("Flow matching's noise is Gaussian and reflow's is not.", "Reflow's $\\epsilon$ is the same Gaussian noise; only how it "
                                                                 "is paired with images changed.")),
    "b",
    "The loss at the optimum is the variance of the target given $x_s$. Lines that cross make that variance positive; "
    "the teacher's ODE paths never cross, so their straightened lines do not either, and the target at each point "
    "is unique.")

PAIR_COST = number(
    "what one pair costs",
    "The teacher draws each reflow pair with 15 DPM-Solver++ steps at guidance 1.5. How many network evaluations "
    "does one pair cost (count one image through the network as one)?",
    30.0, 0.5,
    "Fifteen steps, each evaluating the image twice, with and without its label: 30. The student then spends 1 or 2 "
    "per image at $w = 1$, with the guidance baked into the pairs.",
    wrong=((15.0, "Each guided step evaluates the network twice, with and without the label."),
           (1.0, "One evaluation is what the student spends; the teacher solves its whole ODE for each pair.")))

# -- the capstone ---------------------------------------------------------------------------------
LOOP_INDICES = choice(
    "the loop's indices",
    "The paper's Algorithm 2 runs $t = T, \\dots, 1$, and in code `betas[t]` is the paper's $\\beta_{t+1}$. Which "
    "values does the sampling loop's index take in the script?",
    (("$T, T-1, \\dots, 1$.", "`betas[T]` does not exist: the code's levels are 0-based."),
     ("$T-1, T-2, \\dots, 0$.", ""),
     ("$0, 1, \\dots, T-1$.", "The reverse process starts from noise, at the last level, and walks down.")),
    "b",
    "The code's level $t$ is the paper's $t + 1$, so the paper's $T..1$ is the code's $T-1..0$, and the last "
    "step, the one without fresh noise, is $t = 0$.")

GUIDED_CALLS = number(
    "the picture's cost",
    "The script draws its picture with Algorithm 2 ($T = 1000$) and classifier-free guidance. How many images' worth "
    "of network evaluations does one picture cell (one digit) cost?",
    2000.0, 0.5,
    "1,000 steps, each evaluating the network on the image twice, with and without its label (as one doubled batch): "
    "2,000. DPM-Solver++ with 15 steps would need 30.",
    wrong=((1000.0, "Each step evaluates the network twice, with and without the label (one doubled batch)."),
           (2.0, "That is one step; Algorithm 2 takes all 1,000.")))

SELF_CONTAINED = choice(
    "what self-contained buys",
    "The Quest's script imports nothing from `ddpm_lib` and creates its output folder itself. What does that buy?",
    (("It runs faster than the library.", "It does the same arithmetic; the library's fast path (bf16) is faster "
                                          "where the CPU supports it."),
     ("It can be copied anywhere with PyTorch installed and run from a fresh folder, and every line it runs is on "
      "the page.", ""),
     ("It needs no tests.", "It has them: `tests/test_quest_12_2.py` checks its schedule, loss and step against the "
                            "library.")),
    "b",
    "One file, no course library, no folder to prepare: the whole method is readable top to bottom and portable, "
    "the way the source's ritual describes it.")

ALL: tuple[Exercise, ...] = (
    NO_INTERACTIONS, ONE_SHOT_BLEND, LINEAR_LIMIT, WHY_SHRINK, WHY_ALPHA_BAR_ZERO, PIXELS_0_255,
    WHY_MANY_FREQUENCIES, BATCHNORM_ERASES_TIME, ATTENTION_AT_BOTTLENECK, WHY_RANDOM_T, DROPPED_WEIGHT,
    MIN_SNR_WEIGHT, WHY_EMA, MEAN_PLUGS_IN, SCORE_FROM_EPS, ANNEALING, COPY_DETECTOR, WHY_DROP_LABELS, GUIDE_EPS,
    PAPER_W, NO_RETRAINING, DETERMINISTIC, SECOND_ORDER, SLERP_WHY, CAS_VARIETY, NOISED_KNOWN, RESAMPLE,
    SCALE_FACTOR_FIXES, POSITIONS_RATIO, AUTOENCODER_FLOOR, STRAIGHT_VELOCITY, X0_FROM_VELOCITY, HEUN_CALLS,
    PATHS_DO_NOT_CROSS, ONE_STEP_AFTER_REFLOW, REFLOW_LOSS_FLOOR, PAIR_COST, LOOP_INDICES, GUIDED_CALLS,
    SELF_CONTAINED)
