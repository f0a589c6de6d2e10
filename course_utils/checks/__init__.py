"""Exercise checks, one per exercise: ``use_fn = check_xxx(student_fn)``.

Each check prints a verdict (and a hint when something is wrong) and returns
the function later cells should use. See :mod:`course_utils.checks.core`.
"""

from .core import EXERCISES, CheckResult, Exercise, VERDICT_PATTERN, evaluate, run_check
from .forward_process import (
    check_add_noise,
    check_alphas_cumprod,
    check_noising_step,
    check_q_sample,
    check_snr_db,
    check_timestep_embedding,
    check_variance_after_steps,
    check_x0_from_eps,
)
from .ema import check_ema_step
from .sampling import check_ddim_step, check_ddpm_step, check_eps_prediction_loss, check_frechet_distance, check_guided_eps
from .ddpm_ddim import check_ddim_sigma, check_posterior_variance, check_slerp
from .guidance import check_classifier_guided_eps, check_gaussian_stats, check_inpaint_merge

__all__ = [
    "EXERCISES", "CheckResult", "Exercise", "VERDICT_PATTERN", "evaluate", "run_check",
    "check_add_noise", "check_alphas_cumprod", "check_noising_step", "check_q_sample", "check_snr_db",
    "check_timestep_embedding", "check_variance_after_steps", "check_x0_from_eps",
    "check_eps_prediction_loss", "check_ema_step", "check_ddpm_step", "check_ddim_step", "check_guided_eps", "check_frechet_distance",
    "check_posterior_variance", "check_ddim_sigma", "check_slerp",
    "check_classifier_guided_eps", "check_inpaint_merge", "check_gaussian_stats",
]
