"""Exercise checks, one module per notebook: ``use_fn = check_xxx(student_fn)``.

Each check prints a verdict (and a hint when something is wrong) and returns
the function later cells should use. See :mod:`course_utils.checks.core`;
``python -m course_utils.checks.index`` prints the exercise index of INSTRUCTORS.md.

    nb01  check_add_noise, check_noising_step, check_variance_after_steps
    nb02  check_alphas_cumprod, check_q_sample, check_snr_db
    nb03  check_x0_from_eps, check_timestep_embedding
    nb04  check_eps_prediction_loss, check_ema_step
    nb05  check_posterior_variance, check_ddpm_step
    nb06  check_ddim_sigma, check_ddim_step, check_slerp, check_second_order_x0
    nb07  check_guided_eps, check_classifier_guided_eps, check_inpaint_merge
    nb08  check_gaussian_stats, check_frechet_distance
    nb10  check_stroke_thickness, check_pad_token_ids, check_attention_weights, check_latent_scale_factor
"""

from .core import EXERCISES, VERDICT_PATTERN, CheckResult, Exercise, evaluate, run_check
from .nb01 import check_add_noise, check_noising_step, check_variance_after_steps
from .nb02 import check_alphas_cumprod, check_q_sample, check_snr_db
from .nb03 import check_timestep_embedding, check_x0_from_eps
from .nb04 import check_ema_step, check_eps_prediction_loss
from .nb05 import check_ddpm_step, check_posterior_variance
from .nb06 import check_ddim_sigma, check_ddim_step, check_second_order_x0, check_slerp
from .nb07 import check_classifier_guided_eps, check_guided_eps, check_inpaint_merge
from .nb08 import check_frechet_distance, check_gaussian_stats
from .nb10 import check_attention_weights, check_latent_scale_factor, check_pad_token_ids, check_stroke_thickness

__all__ = [
    "EXERCISES", "CheckResult", "Exercise", "VERDICT_PATTERN", "evaluate", "run_check",
    "check_add_noise", "check_noising_step", "check_variance_after_steps",
    "check_alphas_cumprod", "check_q_sample", "check_snr_db",
    "check_x0_from_eps", "check_timestep_embedding",
    "check_eps_prediction_loss", "check_ema_step",
    "check_posterior_variance", "check_ddpm_step",
    "check_ddim_sigma", "check_ddim_step", "check_slerp", "check_second_order_x0",
    "check_guided_eps", "check_classifier_guided_eps", "check_inpaint_merge",
    "check_gaussian_stats", "check_frechet_distance",
    "check_stroke_thickness", "check_pad_token_ids", "check_attention_weights", "check_latent_scale_factor",
]
