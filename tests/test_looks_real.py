"""The looks-real gate: the shipped statistics belong to the shipped classifier, another classifier gets its own
(fitted once, kept in an explicit cache), and the command that writes them reproduces the shipped file."""

import pytest
import torch

from course_utils import looks_real


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with nothing cached (the module's cache lives as long as the process)."""
    looks_real.REAL_STATS.clear()
    yield
    looks_real.REAL_STATS.clear()


def test_the_shipped_real_digit_statistics_belong_to_the_shipped_classifier():
    """Retraining data/classifier.pt without re-running `python -m course_utils.looks_real --write-real-stats` fails here."""
    from course_utils.data import data_dir
    from course_utils.looks_real import REAL_STATS_FILE, RealDigitStats, classifier_fingerprint
    from course_utils.pretrained import load_classifier

    shipped = RealDigitStats.from_dict(torch.load(data_dir() / REAL_STATS_FILE, weights_only=True))
    assert shipped.fingerprint == classifier_fingerprint(load_classifier())


def test_a_different_classifier_gets_its_own_statistics_not_the_shipped_ones(monkeypatch, capsys):
    from course_utils.pretrained import load_classifier

    fitted = []
    monkeypatch.setattr(looks_real, "fit_real_digit_stats", lambda clf: fitted.append(clf) or "fitted")
    shipped = load_classifier()
    assert looks_real.real_digit_stats(shipped).fingerprint == looks_real.classifier_fingerprint(shipped) and not fitted
    changed = load_classifier()
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)
    assert looks_real.classifier_fingerprint(changed) != looks_real.classifier_fingerprint(shipped)
    assert looks_real.real_digit_stats(changed) == "fitted" and fitted == [changed]
    assert "once per classifier" in capsys.readouterr().out  # the half-minute wait is announced
    assert looks_real.real_digit_stats(changed) == "fitted" and len(fitted) == 1  # and happens once


@pytest.mark.slow  # fits the statistics from 10,000 training digits (about half a minute)
def test_the_command_reproduces_the_shipped_real_digit_statistics(tmp_path):
    from course_utils.data import data_dir
    from course_utils.looks_real import REAL_STATS_FILE, RealDigitStats, main

    assert main(["--write-real-stats", "--out", str(tmp_path / "stats.pt")]) == 0
    made = RealDigitStats.from_dict(torch.load(tmp_path / "stats.pt", weights_only=True))
    shipped = RealDigitStats.from_dict(torch.load(data_dir() / REAL_STATS_FILE, weights_only=True))
    assert made.fingerprint == shipped.fingerprint
    for name in ("features", "texture"):
        a, b = getattr(made, name), getattr(shipped, name)
        assert torch.allclose(a.mu, b.mu, atol=1e-5) and abs(a.threshold - b.threshold) < 1e-3 * b.threshold
