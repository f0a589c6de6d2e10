"""The budget planner (course_utils.budget), the claims (course_utils.claims) and the training benchmark's
plumbing (course_utils.train_bench): properties, not timings."""

import pytest
import torch

from course_utils import budget, claims, train_bench
from course_utils.training import LIVE_RECIPES


@pytest.mark.parametrize("minutes, per_step, per_image", [(8, 0.06, 0.02), (2, 0.06, 0.02), (15, 0.5, 0.2), (1, 1.0, 0.5)])
def test_a_plan_never_spends_more_than_the_budget_less_its_margin(minutes, per_step, per_image):
    plan = budget.plan_live_run(minutes, per_step, per_image)
    assert plan.planned_minutes <= minutes * (1 - plan.margin) + 1e-9 or plan.train_steps == budget.MIN_TRAIN_STEPS
    assert plan.seconds()["scoring"] <= budget.SCORING_SHARE * minutes * 60 or plan.n_eval == budget.EVAL_SIZES[-1]
    assert plan.n_eval in budget.EVAL_SIZES and f"budget_minutes = {minutes:g}" in str(plan)


def test_more_minutes_buy_more_steps_and_never_fewer_samples():
    plans = [budget.plan_live_run(m, 0.06, 0.02) for m in (2, 4, 8, 16)]
    assert [p.train_steps for p in plans] == sorted(p.train_steps for p in plans)
    assert [p.n_eval for p in plans] == sorted(p.n_eval for p in plans)


def test_a_budget_too_small_to_train_says_so():
    plan = budget.plan_live_run(0.5, 1.0, 0.5)
    assert plan.train_steps == budget.MIN_TRAIN_STEPS and "raise budget_minutes" in str(plan)
    for bad in (0, -1, float("nan"), "8"):
        with pytest.raises(ValueError, match="budget_minutes"):
            budget.plan_live_run(bad, 0.1, 0.1)


def test_claims_say_better_only_beyond_twice_the_larger_sd():
    assert claims.beyond_noise(0.5, 0.1, 0.25, 0.05) and not claims.beyond_noise(0.5, 0.1, 0.35, 0.05)
    assert "the same within the noise" in claims.compare("a", 0.5, 0.1, "b", 0.35, 0.05, what="x")
    assert claims.compare("a", 10.0, 1.0, "b", 20.0, 1.0, what="FID", lower_is_better=True).endswith(
        "beyond the noise (twice the larger sd: 2.0)")
    assert "a lower (better) than b" in claims.compare("a", 10.0, 1.0, "b", 20.0, 1.0, what="FID", lower_is_better=True)
    assert "b higher (better) than a by 10.0 points" in claims.compare("a", 0.5, 0.01, "b", 0.6, 0.01, what="r",
                                                                        percent=True)
    assert claims.binomial_sd(0.5, 100) == pytest.approx(0.05)


def test_the_training_benchmark_compares_recipes_at_each_budget():
    def row(recipe, budget_minutes, sampler, recognised):
        return train_bench.TrainingRow(recipe, budget_minutes, 100, budget_minutes, sampler, recognised, 0.02, 50.0,
                                       2.0, 20.0)

    rows = [row("live-v1", 2, "DDIM-50", 0.2), row("live-v1", 2, "SDE-DPM++2M-20", 0.3),
            row("live-v2", 2, "DDIM-50", 0.3), row("live-v2", 2, "SDE-DPM++2M-20", 0.5)]
    lines = train_bench.ratios(rows, "live-v2", "live-v1")
    assert any("as the notebooks run them" in line for line in lines)
    assert "recognised 50.0% vs 20.0% (2.50×" in "\n".join(lines)  # live-v2 with its sampler, live-v1 with DDIM-50
    assert "recognised 30.0% vs 20.0% (1.50×" in "\n".join(lines)  # both with DDIM-50
    assert "live-v1" in LIVE_RECIPES and set(train_bench.SAMPLERS) >= {"DDIM-50", "SDE-DPM++2M-20"}


def test_runs_of_fixed_step_counts_are_compared_step_count_by_step_count(tmp_path):
    def row(recipe, steps, recognised):
        return train_bench.TrainingRow(recipe, 0.0, steps, 1.0, "DDIM-50", recognised, 0.02, 50.0, 2.0, 20.0)

    rows = [row("live-v1", 100, 0.1), row("live-v1", 300, 0.2), row("live-v2", 100, 0.3), row("live-v2", 300, 0.6)]
    text = "\n".join(train_bench.ratios(rows, "live-v2", "live-v1"))
    assert "100 steps: recognised 30.0% vs 10.0%" in text and "300 steps: recognised 60.0% vs 20.0%" in text
    assert rows[0].cells()[1] == "—"
    flow = [train_bench.TrainingRow("live-flow", 0.0, 100, 1.0, "Euler-20", 0.4, 0.02, 40.0, 2.0, 20.0),
            train_bench.TrainingRow("live-v2", 0.0, 100, 1.0, "SDE-DPM++2M-20", 0.2, 0.02, 50.0, 2.0, 20.0)]
    assert "100 steps: recognised 40.0% vs 20.0% (2.00×" in "\n".join(train_bench.ratios(flow, "live-flow", "live-v2"))
    stored = tmp_path / "train_bench.md"
    stored.write_text(train_bench.format_markdown(rows), encoding="utf-8")
    assert train_bench.result_steps(stored) == [100, 300]
    assert train_bench.result_steps(tmp_path / "missing.md") == []


@pytest.mark.slow
def test_the_training_benchmark_runs_end_to_end(tmp_path, capsys):
    train_bench.main(["--quick", "--recipes", "live-v1", "--markdown", str(tmp_path / "t.md")])
    out = capsys.readouterr().out
    assert "live-v1 | 0.05 |" in out and (tmp_path / "t.md").read_text().startswith("| recipe")
    assert "made by `python -m course_utils.train_bench --quick --recipes live-v1" in (tmp_path / "t.md").read_text()
    assert torch.get_num_threads() >= 1


def test_a_variant_names_a_recipe_with_settings_changed_and_bad_ones_are_refused():
    assert train_bench.parse_variant("snr2:min_snr_gamma=2,lr=4e-3") == ("snr2", {"min_snr_gamma": 2.0, "lr": 0.004})
    assert train_bench.parse_variant("b64:batch_size=64,min_snr_gamma=none")[1] == {"batch_size": 64,
                                                                                   "min_snr_gamma": None}
    for bad in ("nosettings", "x:model=1", "x:unknown=3", ":lr=1"):
        with pytest.raises(ValueError, match="a variant is"):
            train_bench.parse_variant(bad)
    with pytest.raises(SystemExit):
        train_bench.main(["--variant", "x:min_snr_gamma=-1", "--steps", "1"])
