"""The notebooks' exercises, of three kinds, and the tutor that checks them.

- *implement* (:mod:`.implement`): write one piece of the method;
- *predict, then run* (:mod:`.predict`): commit to a number or a choice, then run the experiment;
- *find the bug* (:mod:`.bugs`): fix a short function with one planted bug.

In a notebook::

    from ddpm_lib import exercises as ex
    tutor = ex.Tutor()
    tutor.check(ex.Q_SAMPLE, my_q_sample)
"""

from .bugs import CLAMP_X0, GUIDANCE_BRANCHES, HEUN_CORRECTOR, LAST_STEP_NOISE, LATENT_CLAMP, POSTERIOR_VARIANCE
from .core import CheckResult, Exercise, Tutor, Verdict
from .implement import (ADAGN, ALPHAS_CUMPROD, DDIM_STEP, DDPM_STEP, DIFFUSION_LOSS, EMA_UPDATE, GUIDANCE, HALF_MASK,
                        INPAINT_MERGE, INTERACTION_FEATURES, LABEL_DROPOUT, LATENT_SCALE_FACTOR, ONE_SHOT_DENOISE, PREDICT_X0, Q_SAMPLE,
                        SINUSOIDAL_EMBEDDING, SLERP, VELOCITY_FROM_EPS)
from .predict import (ATTENTION_COST_RATIO, COSINE_ALPHA_BAR_END, FEWEST_DDIM_STEPS, GUIDED_TRAINING_DATA,
                      HALF_ACCURACY_STEP, LATENT_SPEEDUP, NEGATIVE_GUIDANCE_ACCURACY, ONE_EULER_STEP_SPREAD, ONE_SHOT_ACCURACY,
                      WRONG_T_LOSS_RATIO, ZERO_PREDICTOR_LOSS)
from . import bugs, implement, predict

ALL: tuple[Exercise, ...] = implement.ALL + predict.ALL + bugs.ALL

__all__ = ["ADAGN", "ALL", "ALPHAS_CUMPROD", "ATTENTION_COST_RATIO", "CLAMP_X0", "COSINE_ALPHA_BAR_END", "CheckResult",
           "DDIM_STEP", "DDPM_STEP", "DIFFUSION_LOSS", "EMA_UPDATE", "Exercise", "FEWEST_DDIM_STEPS", "GUIDANCE",
           "GUIDANCE_BRANCHES", "GUIDED_TRAINING_DATA", "HALF_ACCURACY_STEP", "HALF_MASK", "HEUN_CORRECTOR",
           "INPAINT_MERGE", "INTERACTION_FEATURES", "LABEL_DROPOUT", "LAST_STEP_NOISE", "LATENT_CLAMP", "LATENT_SCALE_FACTOR",
           "LATENT_SPEEDUP", "NEGATIVE_GUIDANCE_ACCURACY",
           "ONE_EULER_STEP_SPREAD", "ONE_SHOT_ACCURACY", "ONE_SHOT_DENOISE", "POSTERIOR_VARIANCE", "PREDICT_X0",
           "Q_SAMPLE", "SINUSOIDAL_EMBEDDING", "SLERP", "Tutor", "VELOCITY_FROM_EPS", "Verdict", "WRONG_T_LOSS_RATIO",
           "ZERO_PREDICTOR_LOSS", "bugs", "implement", "predict"]
