"""Classifier guidance with a noise-aware classifier (guidance, classifier), guidance that changes with the
step (guidance.StepwiseGuidance), and inpainting (inpainting)."""

import pytest
import torch
from torch.nn import functional as F

from course_utils import classifier, guidance, inpainting
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import DDIMSampler, DDPMSampler, sample
from course_utils.schedules import make_schedule

S = make_schedule("linear", 1000)


def _tiny_unet(num_classes=None):
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False,
                     num_classes=num_classes)
    return TinyUNet(cfg).eval().requires_grad_(False)


def _classifier():
    torch.manual_seed(0)
    return classifier.NoisyDigitClassifier().eval().requires_grad_(False)


def test_noise_aware_classifier_shapes_and_scalar_t():
    clf = _classifier()
    x = torch.randn(3, 1, 28, 28)
    assert clf(x, torch.tensor([0, 500, 999])).shape == (3, 10)
    assert torch.allclose(clf(x, torch.tensor(7)), clf(x, torch.full((3,), 7)))


def test_training_runs_and_returns_a_frozen_model_in_eval_mode():
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    labels = torch.randint(10, (64,))
    clf, losses = classifier.train_noisy_classifier(images, labels, S, steps=5, batch_size=16, seed=1)
    assert len(losses) == 5 and all(torch.isfinite(torch.tensor(losses)))
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
    again, losses_again = classifier.train_noisy_classifier(images, labels, S, steps=5, batch_size=16, seed=1)
    assert losses == losses_again  # seeded


def test_log_prob_grad_is_per_image_and_works_under_no_grad():
    clf = _classifier()
    x, t, y = torch.randn(3, 1, 28, 28), torch.tensor([10, 400, 900]), torch.tensor([1, 5, 9])
    with torch.no_grad():
        grad = guidance.log_prob_grad(clf, x, t, y)
    for i in range(3):
        xi = x[i : i + 1].clone().requires_grad_(True)
        F.log_softmax(clf(xi, t[i : i + 1]), 1)[0, y[i]].backward()
        assert torch.allclose(grad[i], xi.grad[0], atol=1e-6)


def test_classifier_guided_eps_formula_and_scale_zero():
    eps, grad, t = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28), torch.tensor([100, 800])
    assert torch.equal(guidance.classifier_guided_eps(eps, grad, t, S, 0.0), eps)
    got = guidance.classifier_guided_eps(eps, grad, t, S, 2.0)
    expected = eps - 2.0 * S.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1) * grad
    assert torch.allclose(got, expected)


def test_guidance_moves_x_towards_the_label():
    """Stepping x_t against the eps correction raises log p(y | x_t, t), to first order."""
    model, clf = _tiny_unet(), _classifier()
    x, t, y = torch.randn(4, 1, 28, 28), torch.full((4,), 300), torch.tensor([0, 3, 6, 9])
    guided = guidance.ClassifierGuidance(model, clf, S, classifier_scale=5.0)
    with torch.no_grad():
        correction = guided(x, t, y) - model(x, t)
        before = F.log_softmax(clf(x, t), 1)[torch.arange(4), y]
        after = F.log_softmax(clf(x - 1e-2 * correction, t), 1)[torch.arange(4), y]
    assert (after > before).all()


def test_classifier_guidance_wraps_conditional_and_unconditional_models():
    clf = _classifier()
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([5, 500]), torch.tensor([2, 7])
    for model in (_tiny_unet(), _tiny_unet(num_classes=10)):
        plain = model(x, t, y) if model.is_conditional else model(x, t)
        assert torch.equal(guidance.ClassifierGuidance(model, clf, S, 0.0)(x, t, y), plain)
        assert guidance.ClassifierGuidance(model, clf, S, 1.0)(x, t, y).shape == x.shape
    with pytest.raises(ValueError, match="labels"):
        guidance.ClassifierGuidance(_tiny_unet(), clf, S, 1.0)(x, t)



def _labelled_unet():
    model = _tiny_unet(num_classes=10)
    torch.nn.init.normal_(model.label_embedding.weight)  # zero-initialised labels would all predict the same eps
    return model


def test_stepwise_guidance_uses_the_scale_and_label_of_each_step():
    model = _labelled_unet()
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 4, 7])
    late, early = torch.full((3,), 100), torch.full((3,), 800)
    guided = guidance.StepwiseGuidance(model, lambda t: 3.0 if t >= 500 else 0.0)
    with torch.no_grad():
        assert torch.allclose(guided(x, early, y), guidance.ClassifierFreeGuidance(model, 3.0)(x, early, y))
        assert torch.equal(guided(x, late, y), model(x, late))  # w = 0 there: the null label
        constant = guidance.StepwiseGuidance(model, 2.0)
        assert torch.allclose(constant(x, late, y), guidance.ClassifierFreeGuidance(model, 2.0)(x, late, y))
        relabelled = guidance.StepwiseGuidance(model, 1.0, label=lambda t: 8 if t < 500 else None)
        assert torch.equal(relabelled(x, late, y), model(x, late, torch.full((3,), 8)))
        assert torch.equal(relabelled(x, early, y), model(x, early, y))  # None: the labels given
        assert torch.equal(relabelled(x, early[:1], y), model(x, early, y))  # one t for the batch is enough


def test_stepwise_guidance_in_sample_matches_a_loop_that_switches_the_label_by_hand():
    model, sampler = _labelled_unet(), DDIMSampler(S, num_steps=6)
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    switch = lambda t: 3 if t >= 500 else 8  # noqa: E731
    got = sample(guidance.StepwiseGuidance(model, 1.0, label=switch), sampler, noise=noise, show_progress=False).images
    x = noise.clone()
    with torch.no_grad():
        for t, t_prev in sampler.timesteps():
            eps = model(x, torch.full((2,), t), torch.full((2,), switch(t)))
            x, _ = sampler.step(eps, t, t_prev, x)
    assert torch.allclose(got, x, atol=1e-6)
    only_3 = sample(model, sampler, noise=noise, labels=torch.tensor([3, 3]), show_progress=False).images
    only_8 = sample(model, sampler, noise=noise, labels=torch.tensor([8, 8]), show_progress=False).images
    assert not torch.allclose(got, only_3) and not torch.allclose(got, only_8)


def test_stepwise_guidance_refuses_bad_input_with_a_clear_message():
    model, x, y = _labelled_unet(), torch.randn(2, 1, 28, 28), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="class-conditional"):
        guidance.StepwiseGuidance(_tiny_unet(), 2.0)
    with pytest.raises(ValueError, match="guidance_scale must be a finite number"):
        guidance.StepwiseGuidance(model, float("nan"))
    with pytest.raises(ValueError, match="guidance_scale at step t=5 must be a finite number"):
        guidance.StepwiseGuidance(model, lambda t: float("inf"))(x, torch.tensor([5, 5]), y)
    with pytest.raises(ValueError, match="label must be None or a function"):
        guidance.StepwiseGuidance(model, 1.0, label=3)
    with pytest.raises(ValueError, match=r"label\(t\) must return a digit 0-9 .* got 10 at step t=5"):
        guidance.StepwiseGuidance(model, 1.0, label=lambda t: 10)(x, torch.tensor([5, 5]), y)
    with pytest.raises(ValueError, match="one step t for the whole batch"):
        guidance.StepwiseGuidance(model, 1.0)(x, torch.tensor([5, 6]), y)
    with pytest.raises(ValueError, match="guidance needs labels"):
        guidance.StepwiseGuidance(model, 2.0)(x, torch.tensor([5, 5]))

def test_inpaint_merge_and_half_mask():
    mask = inpainting.half_mask("bottom")
    assert mask.shape == (1, 1, 28, 28) and mask.mean() == 0.5 and mask[0, 0, 0].eq(1).all() and mask[0, 0, -1].eq(0).all()
    a, b = torch.zeros(2, 1, 28, 28), torch.ones(2, 1, 28, 28)
    merged = inpainting.inpaint_merge(a, b, mask)
    assert torch.equal(merged[:, :, :14], b[:, :, :14]) and torch.equal(merged[:, :, 14:], a[:, :, 14:])
    assert inpainting.half_mask("left")[0, 0, :, 0].eq(0).all()
    with pytest.raises(ValueError):
        inpainting.half_mask("middle")


@pytest.mark.parametrize("sampler", [DDIMSampler(S, num_steps=5), DDIMSampler(S, num_steps=5, eta=1.0)])
@pytest.mark.parametrize("resample", [1, 3])
def test_inpaint_keeps_the_known_pixels_exactly_and_is_seeded(sampler, resample):
    model = _tiny_unet()
    known = torch.rand(2, 1, 28, 28) * 2 - 1
    mask = inpainting.half_mask("right")
    run = lambda: inpainting.inpaint(model, sampler, known, mask, generator=torch.Generator().manual_seed(0),  # noqa: E731
                                   resample=resample, show_progress=False)
    out = run()
    assert out.images.shape == known.shape and len(out.timesteps) == 5
    assert torch.equal(out.images[..., :14], known[..., :14])
    assert not torch.equal(out.images[..., 14:], known[..., 14:])
    assert torch.equal(out.images, run().images)


def test_inpaint_with_labels_and_a_custom_merge():
    model = _tiny_unet(num_classes=10)
    known = torch.zeros(2, 1, 28, 28)
    calls = []

    def merge(x, k, m):
        calls.append(1)
        return inpainting.inpaint_merge(x, k, m)

    out = inpainting.inpaint(model, DDIMSampler(S, num_steps=4), known, inpainting.half_mask(), labels=torch.tensor([1, 2]),
                           generator=torch.Generator().manual_seed(0), merge=merge, show_progress=False)
    assert len(calls) == 4 and torch.equal(out.images[:, :, :14], known[:, :, :14])
    with pytest.raises(ValueError):
        inpainting.inpaint(model, DDPMSampler(S), known, inpainting.half_mask(), resample=0)


def test_class_spread_is_zero_for_collapsed_classes_and_grows_with_scale():
    from course_utils.metrics import class_spread

    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    collapsed = torch.tensor([[1.0, 2.0]] * 3 + [[5.0, 5.0]] * 3)
    assert class_spread(collapsed, labels) == pytest.approx(0.0)
    f = torch.randn(6, 4)
    assert class_spread(3 * f, labels) == pytest.approx(3 * class_spread(f, labels))
    assert class_spread(f + 10 * labels[:, None].float(), labels) == pytest.approx(class_spread(f, labels))
