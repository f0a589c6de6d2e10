import pytest
import torch

from course_utils import metrics


def test_frechet_distance_of_identical_gaussians_is_zero():
    mu, cov = torch.zeros(5), torch.eye(5) * 2
    assert metrics.frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_known_answers():
    d = 6
    # Mean shift only: ||mu1 - mu2||^2.
    assert metrics.frechet_distance(torch.zeros(d), torch.eye(d), torch.full((d,), 2.0), torch.eye(d)) == pytest.approx(4.0 * d)
    # Scaled identity covariances: tr(I + 4I - 2*sqrt(4I)) = d * (1 + 4 - 4) = d.
    assert metrics.frechet_distance(torch.zeros(d), torch.eye(d), torch.zeros(d), 4 * torch.eye(d)) == pytest.approx(float(d))
    # Diagonal covariances: sum of (sqrt(a_i) - sqrt(b_i))^2.
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    expected = ((a.sqrt() - b.sqrt()) ** 2).sum().item()
    assert metrics.frechet_distance(torch.zeros(3), torch.diag(a), torch.zeros(3), torch.diag(b)) == pytest.approx(expected)


def test_frechet_distance_is_symmetric_for_general_covariances():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g)
    s1, s2 = a @ a.T + 0.1 * torch.eye(4), b @ b.T + 0.1 * torch.eye(4)
    mu1, mu2 = torch.randn(4, generator=g), torch.randn(4, generator=g)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(metrics.frechet_distance(mu2, s2, mu1, s1), rel=1e-6)


def test_gaussian_stats_recover_a_known_distribution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20_000, 3, generator=g) * torch.tensor([1.0, 2.0, 3.0]) + 5
    mu, cov = metrics.gaussian_stats(x)
    assert torch.allclose(mu, torch.full((3,), 5.0, dtype=torch.float64), atol=0.05)
    assert torch.allclose(cov.diag(), torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), rtol=0.05)


def test_digit_fid_needs_the_same_count_on_both_sides():
    class Identity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(2, 10)

        def features(self, x):
            return x.flatten(1)[:, :2]

    with pytest.raises(ValueError, match="same number"):
        metrics.digit_fid(Identity(), torch.zeros(5, 1, 28, 28), torch.zeros(6, 1, 28, 28))


def test_fid_bootstrap_sd_shrinks_with_more_samples_and_needs_two():
    g = torch.Generator().manual_seed(0)
    reference = torch.randn(2000, 4, generator=g, dtype=torch.float64)
    small = metrics.fid_bootstrap_sd(torch.randn(50, 4, generator=g, dtype=torch.float64), reference, rounds=100)
    large = metrics.fid_bootstrap_sd(torch.randn(2000, 4, generator=g, dtype=torch.float64), reference, rounds=100)
    assert 0 < large < small / 3  # about 1/sqrt(N): 40 times the samples, several times less spread
    with pytest.raises(ValueError, match="at least 2"):
        metrics.fid_bootstrap_sd(reference[:1], reference)


def test_sample_report_str_names_class_accuracy_only_for_conditional_samples():
    report = metrics.SampleReport(n=4, digit_fid=12.345, fid_floor=3.21, mean_confidence=0.9, recognised=0.75,
                                  class_accuracy=None, class_histogram=[1, 3])
    text = str(report)
    assert "class accuracy" not in text and "n/a" not in text
    assert "digit-FID 12.35 (real-vs-real floor 3.21)" in text and "recognised 75.0%  classes [1, 3]" in text
    report.class_accuracy = 0.5
    assert "recognised 75.0%  class accuracy 50.0%  classes [1, 3]" in str(report)


@pytest.mark.slow  # samples 500 one-step images and classifies 2,000 real digits
def test_recognised_rejects_static_and_one_step_smudges_and_keeps_real_digits():
    """The classifier calls static and a single DDIM step's smudge an '8' with confidence ~1; neither is a digit."""
    from course_utils.data import mnist_subset
    from course_utils.metrics import classify, evaluate_samples
    from course_utils.pretrained import load_classifier, load_ddpm
    from course_utils.samplers import DDIMSampler, sample

    classifier = load_classifier()
    model, schedule = load_ddpm("uncond")
    static = torch.randn(500, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    one_step = sample(model, DDIMSampler(schedule, num_steps=1), 500, generator=torch.Generator().manual_seed(6),
                      show_progress=False).images
    for fakes in (static, one_step):
        _, probs = classify(classifier, fakes)
        assert (probs.max(1).values >= 0.9).float().mean() > 0.5  # the classifier alone is fooled
        assert evaluate_samples(classifier, fakes, floor=0.0).recognised <= 0.01
    real, _ = mnist_subset("test", n=2000, seed=4)
    assert evaluate_samples(classifier, real, floor=0.0).recognised >= 0.97
