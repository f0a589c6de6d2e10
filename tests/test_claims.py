"""course_utils.claims: sentences about two measurements, and reading them back to check the prose against a run."""

import pytest

from course_utils.claims import claim_problems, compare, parse_claim, parse_comparisons


def test_compare_says_better_only_beyond_twice_the_larger_sd_and_keeps_small_numbers_readable():
    same = compare("batch 64", 0.57, 0.02, "batch 16", 0.60, 0.03, what="seconds per image", lower_is_better=True)
    assert "the same within the noise (the gap, 0.03, is under twice the larger sd, 0.06)" in same
    better = compare("batch 4", 0.89, 0.02, "batch 1", 1.90, 0.10, what="seconds per image", lower_is_better=True)
    assert "batch 4 lower (better) than batch 1 by 1.0, beyond the noise (twice the larger sd: 0.2)" in better
    percent = compare("w = 1.5", 0.997, 0.002, "w = 1", 0.96, 0.006, what="class accuracy", percent=True)
    assert percent.startswith("w = 1.5: class accuracy 99.7% ± 0.2, w = 1: 96.0% ± 0.6;")
    assert "w = 1.5 higher (better) than w = 1 by 3.7 points" in percent


def test_every_sentence_compare_writes_is_read_back():
    sentences = [compare("uncond, DDIM-50", 34.95, 4.02, "uncond, DDPM-1000", 22.84, 3.88, what="digit-FID",
                         lower_is_better=True),
                 compare("η = 1, mistake at t ≈ 600", 0.3, 0.05, "η = 0, mistake at t ≈ 600", 0.9, 0.04,
                         what="share of it left at the end", lower_is_better=True),
                 compare("a", 0.5, 0.1, "b", 0.45, 0.05, what="recognised", percent=True)]
    found = parse_comparisons("noise\n" + "\n".join(sentences) + "\nmore noise")
    assert [(c.a_name, c.b_name, c.winner, c.what) for c in found] == [
        ("uncond, DDIM-50", "uncond, DDPM-1000", "uncond, DDPM-1000", "digit-FID"),
        ("η = 1, mistake at t ≈ 600", "η = 0, mistake at t ≈ 600", "η = 1, mistake at t ≈ 600",
         "share of it left at the end"),
        ("a", "b", None, "recognised")]


def test_parse_claim_reads_the_three_forms_and_refuses_others():
    assert parse_claim("A lower (better) than B") == (frozenset({"A", "B"}), "A", "")
    assert parse_claim("[class accuracy] A higher (better) than B") == (frozenset({"A", "B"}), "A", "class accuracy")
    assert parse_claim("A vs B: the same within the noise") == (frozenset({"A", "B"}), None, "")
    with pytest.raises(ValueError, match="a claim reads"):
        parse_claim("A is better than B")


def test_claim_problems_checks_the_score_a_claim_names():
    printed = "\n".join([
        compare("w = 1.5", 16.63, 3.29, "w = 1", 18.57, 2.60, what="digit-FID", lower_is_better=True),
        compare("w = 1.5", 0.997, 0.002, "w = 1", 0.96, 0.006, what="class accuracy", percent=True)])
    ok = ("<!-- claim: [digit-FID] w = 1.5 vs w = 1: the same within the noise -->\n"
          "<!-- claim: [class accuracy] w = 1.5 higher (better) than w = 1 -->")
    assert claim_problems(ok, printed) == []
    unnamed = "<!-- claim: w = 1.5 vs w = 1: the same within the noise -->"  # also meets the accuracy verdict
    assert len(claim_problems(unnamed, printed)) == 1
    wrong = "<!-- claim: [digit-FID] w = 1 lower (better) than w = 1.5 -->"
    assert "the same within the noise" in claim_problems(wrong, printed)[0]
