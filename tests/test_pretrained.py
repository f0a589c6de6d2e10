"""The shipped models in data/ load, and do what the model card says they do."""

import pytest
import torch

from course_utils import metrics, pretrained
from course_utils.guidance import ClassifierFreeGuidance
from course_utils.samplers import DDIMSampler, sample


@pytest.mark.slow  # samples or classifies thousands of images
def test_reference_classifier_is_accurate_on_real_test_digits():
    classifier = pretrained.load_classifier()
    images = metrics.real_reference(1000)
    report = metrics.evaluate_samples(classifier, images, floor=0.0)
    assert report.recognised > 0.9 and report.mean_confidence > 0.9
    info = pretrained.checkpoint_info("classifier")
    assert info["train"]["test_accuracy"] >= 0.99


def test_shipped_unconditional_ddpm_makes_recognisable_digits():
    model, schedule = pretrained.load_ddpm("uncond")
    classifier = pretrained.load_classifier()
    out = sample(model, DDIMSampler(schedule, 10), 32, generator=torch.Generator().manual_seed(0), show_progress=False)
    _, probs = metrics.classify(classifier, out.images)
    assert (probs.max(1).values >= 0.9).float().mean() > 0.3  # chance would be far below


def test_shipped_conditional_ddpm_follows_its_labels():
    model, schedule = pretrained.load_ddpm("cond")
    classifier = pretrained.load_classifier()
    labels = torch.arange(10).repeat(3)
    out = sample(ClassifierFreeGuidance(model, 3.0), DDIMSampler(schedule, 10), len(labels), labels=labels,
                 generator=torch.Generator().manual_seed(0), show_progress=False)
    _, probs = metrics.classify(classifier, out.images)
    assert (probs.argmax(1) == labels).float().mean() > 0.5  # chance is 0.1


def test_loading_a_ddpm_as_a_classifier_is_refused():
    with pytest.raises(pretrained.CheckpointError, match="classifier"):
        pretrained.load_classifier(pretrained.checkpoint_path("uncond"))


@pytest.mark.slow  # samples or classifies thousands of images
def test_static_is_not_recognised_although_the_classifier_is_confident():
    """The reference classifier calls pure noise an '8' with high confidence; 'recognised' must not count it."""
    from course_utils.data import mnist_subset
    from course_utils.metrics import classify, evaluate_samples, looks_real
    from course_utils.pretrained import load_classifier

    classifier = load_classifier()
    static = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    _, probs = classify(classifier, static)
    assert (probs.max(1).values >= 0.9).float().mean() > 0.5  # the failure this guards against
    assert evaluate_samples(classifier, static, floor=0.0).recognised == 0.0
    real, _ = mnist_subset("test", n=200, seed=3)
    assert looks_real(classifier, real).float().mean() > 0.95


def test_checkpoints_written_before_t_was_called_num_timesteps_still_load():
    from course_utils.checkpoints import read_checkpoint
    from course_utils.pretrained import checkpoint_path
    from course_utils.training import TrainConfig

    raw = torch.load(checkpoint_path("uncond"), map_location="cpu", weights_only=True)
    assert raw["schedule"] == {"name": "linear", "num_steps": 1000} and "num_steps" in raw["train"]  # the old key
    ckpt = read_checkpoint(checkpoint_path("uncond"))  # read under today's names, in one place
    assert ckpt["schedule"] == {"name": "linear", "num_timesteps": 1000} and "num_steps" not in ckpt["train"]
    assert TrainConfig.from_dict(ckpt["train"]).num_timesteps == 1000
    _, schedule = pretrained.load_ddpm("uncond")
    assert schedule.num_timesteps == 1000
