"""The notebooks' exercises, of three kinds, and the tutor that checks them.

- *implement* (:mod:`.implement`): write one piece of the method;
- *predict, then run* (:mod:`.predict`): commit to a number or a choice, then run the experiment;
- *find the bug* (:mod:`.bugs`): fix a short function with one planted bug;
- *concept checks* (:mod:`.concepts`): a short question where an idea was just taught, each wrong answer explained;
- the capstone (:mod:`.capstone`): the blocks of ``quest_12_2.py``, checked one by one, and the file assembled.

In a notebook::

    import ddpm_exercises as ex
    tutor = ex.Tutor()
    tutor.check(ex.Q_SAMPLE, my_q_sample)
"""

from .bugs import (CLAMP_X0, GUIDANCE_BRANCHES, HEUN_CORRECTOR, LAST_STEP_NOISE, LATENT_CLAMP, POSTERIOR_VARIANCE,
                   REFLOW_PAIRING)
from .core import CheckResult, Exercise, Tutor, Verdict
from .implement import (ADAGN, ALPHAS_CUMPROD, DDIM_STEP, DDPM_STEP, DIFFUSION_LOSS, EMA_UPDATE, GUIDANCE, HALF_MASK,
                        INPAINT_MERGE, INTERACTION_FEATURES, LABEL_DROPOUT, LATENT_SCALE_FACTOR, ONE_SHOT_DENOISE, PREDICT_X0, Q_SAMPLE,
                        SINUSOIDAL_EMBEDDING, SLERP, STRAIGHTNESS, VELOCITY_FROM_EPS)
from .predict import (ATTENTION_COST_RATIO, COSINE_ALPHA_BAR_END, FEWEST_DDIM_STEPS, FEWEST_REFLOW_STEPS, GUIDED_TRAINING_DATA,
                      HALF_ACCURACY_STEP, LATENT_SPEEDUP, NEGATIVE_GUIDANCE_ACCURACY, ONE_EULER_STEP_SPREAD, ONE_SHOT_ACCURACY,
                      WRONG_T_LOSS_RATIO, ZERO_PREDICTOR_LOSS)
from . import bugs, capstone, concepts, implement, predict
from .capstone import QUEST_ACCURACY, QUEST_BLOCK, QUEST_EMBEDDING, QUEST_LOSS, QUEST_SCHEDULE, QUEST_STEP
from .concepts import (NO_INTERACTIONS, ONE_SHOT_BLEND, LINEAR_LIMIT, WHY_SHRINK, WHY_ALPHA_BAR_ZERO, PIXELS_0_255,
                       WHY_MANY_FREQUENCIES, BATCHNORM_ERASES_TIME, ATTENTION_AT_BOTTLENECK, WHY_RANDOM_T,
                       DROPPED_WEIGHT, MIN_SNR_WEIGHT, WHY_EMA, MEAN_PLUGS_IN, SCORE_FROM_EPS, ANNEALING,
                       COPY_DETECTOR, WHY_DROP_LABELS, GUIDE_EPS, PAPER_W, NO_RETRAINING, DETERMINISTIC, SECOND_ORDER,
                       SLERP_WHY, CAS_VARIETY, NOISED_KNOWN, RESAMPLE, SCALE_FACTOR_FIXES, POSITIONS_RATIO,
                       AUTOENCODER_FLOOR, STRAIGHT_VELOCITY, X0_FROM_VELOCITY, HEUN_CALLS, PATHS_DO_NOT_CROSS,
                       ONE_STEP_AFTER_REFLOW, REFLOW_LOSS_FLOOR, PAIR_COST, LOOP_INDICES, GUIDED_CALLS, SELF_CONTAINED)

ALL: tuple[Exercise, ...] = implement.ALL + predict.ALL + bugs.ALL + concepts.ALL + capstone.ALL

__all__ = ["ADAGN", "ALL", "ALPHAS_CUMPROD", "ANNEALING", "ATTENTION_AT_BOTTLENECK", "ATTENTION_COST_RATIO",
           "AUTOENCODER_FLOOR", "BATCHNORM_ERASES_TIME", "CAS_VARIETY", "CLAMP_X0", "COPY_DETECTOR",
           "COSINE_ALPHA_BAR_END", "CheckResult", "DDIM_STEP", "DDPM_STEP", "DETERMINISTIC", "DIFFUSION_LOSS",
           "DROPPED_WEIGHT", "EMA_UPDATE", "Exercise", "FEWEST_DDIM_STEPS", "FEWEST_REFLOW_STEPS", "GUIDANCE",
           "GUIDANCE_BRANCHES", "GUIDED_CALLS", "GUIDED_TRAINING_DATA", "GUIDE_EPS", "HALF_ACCURACY_STEP",
           "HALF_MASK", "HEUN_CALLS", "HEUN_CORRECTOR", "INPAINT_MERGE", "INTERACTION_FEATURES", "LABEL_DROPOUT",
           "LAST_STEP_NOISE", "LATENT_CLAMP", "LATENT_SCALE_FACTOR", "LATENT_SPEEDUP", "LINEAR_LIMIT",
           "LOOP_INDICES", "MEAN_PLUGS_IN", "MIN_SNR_WEIGHT", "NEGATIVE_GUIDANCE_ACCURACY", "NOISED_KNOWN",
           "NO_INTERACTIONS", "NO_RETRAINING", "ONE_EULER_STEP_SPREAD", "ONE_SHOT_ACCURACY", "ONE_SHOT_BLEND",
           "ONE_SHOT_DENOISE", "ONE_STEP_AFTER_REFLOW", "PAIR_COST", "PAPER_W", "PATHS_DO_NOT_CROSS", "PIXELS_0_255",
           "POSITIONS_RATIO", "POSTERIOR_VARIANCE", "PREDICT_X0", "QUEST_ACCURACY", "QUEST_BLOCK", "QUEST_EMBEDDING",
           "QUEST_LOSS", "QUEST_SCHEDULE", "QUEST_STEP", "Q_SAMPLE", "REFLOW_LOSS_FLOOR", "REFLOW_PAIRING",
           "RESAMPLE", "SCALE_FACTOR_FIXES", "SCORE_FROM_EPS", "SECOND_ORDER", "SELF_CONTAINED",
           "SINUSOIDAL_EMBEDDING", "SLERP", "SLERP_WHY", "STRAIGHTNESS", "STRAIGHT_VELOCITY", "Tutor",
           "VELOCITY_FROM_EPS", "Verdict", "WHY_ALPHA_BAR_ZERO", "WHY_DROP_LABELS", "WHY_EMA",
           "WHY_MANY_FREQUENCIES", "WHY_RANDOM_T", "WHY_SHRINK", "WRONG_T_LOSS_RATIO", "X0_FROM_VELOCITY",
           "ZERO_PREDICTOR_LOSS", "bugs", "capstone", "concepts", "implement", "predict"]
