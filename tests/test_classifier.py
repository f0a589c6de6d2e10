"""The reference classifier's training loop (classifier.train_classifier) and accuracy()."""

import torch

from course_utils import classifier
from course_utils.schedules import make_schedule


def _blobs(n=256, seed=0):
    """Two easy classes: a bright top half (label 0) or a bright bottom half (label 1)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (n,), generator=g)
    images = torch.full((n, 1, 28, 28), -1.0) + 0.1 * torch.randn(n, 1, 28, 28, generator=g)
    images[labels == 0, :, 4:12, 8:20] = 1.0
    images[labels == 1, :, 16:24, 8:20] = 1.0
    return images, labels


def test_train_classifier_learns_an_easy_task_and_is_seeded():
    images, labels = _blobs()
    config = classifier.ClassifierConfig(channels=(4, 8), feature_dim=8, num_classes=2)
    model = classifier.train_classifier(images, labels, config=config, epochs=2, batch_size=32, seed=3)
    assert not model.training
    test_images, test_labels = _blobs(seed=1)
    assert classifier.accuracy(model, test_images, test_labels) > 0.95
    again = classifier.train_classifier(images, labels, config=config, epochs=2, batch_size=32, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


class _Recorder(torch.nn.Module):
    """A 'classifier' that always answers digit 3 and remembers what it was given."""

    def __init__(self, takes_t):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.takes_t, self.seen = takes_t, []

    def forward(self, x, t=None):
        self.seen.append((x.clone(), None if t is None else t.clone()))
        return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()


def test_accuracy_counts_matches_and_noises_the_images_when_asked():
    images, labels = torch.zeros(10, 1, 28, 28), torch.tensor([3, 3, 3, 1, 2, 3, 0, 0, 0, 0])
    plain = _Recorder(takes_t=False)
    assert classifier.accuracy(plain, images, labels, batch_size=4) == 0.4
    assert all(torch.equal(x, images[: len(x)] * 0) for x, _ in plain.seen)  # clean images, one argument
    schedule = make_schedule("linear", 1000)
    plain.seen.clear()
    assert classifier.accuracy(plain, images, labels, noised_to=999, schedule=schedule) == 0.4
    noisy, t = plain.seen[0]
    assert t is None and 0.9 < noisy.std().item() < 1.1  # x_999 of a blank image is nearly pure noise


def test_accuracy_tells_a_noise_aware_classifier_the_step():
    clf = classifier.NoisyDigitClassifier()
    images, labels = torch.zeros(6, 1, 28, 28), torch.randint(10, (6,))
    seen = []
    clf.register_forward_hook(lambda module, args, out: seen.append(args[1].clone()))
    classifier.accuracy(clf, images, labels, noised_to=250, schedule=make_schedule("linear", 1000))
    assert torch.equal(seen[0], torch.full((6,), 250))
