"""The exponential moving average of the weights (training.EMA): warm-up and buffers."""

import pytest
import torch
from torch import nn

from course_utils.training import EMA


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_decay_warms_up_as_1_plus_n_over_10_plus_n_then_reaches_the_set_decay():
    model = _net()
    ema = EMA(model, decay=0.99)
    start = ema.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)  # the live weights jump by 1
    ema.update(model)  # n = 1: decay (1 + 1) / (10 + 1) = 2/11, so the average moves 9/11 of the way
    assert torch.allclose(ema.model[0].weight, start + 9 / 11, atol=1e-6)
    for _ in range(2000):
        ema.update(model)
    n = ema.num_updates
    assert n == 2001 and min(0.99, (1 + n) / (10 + n)) == 0.99  # warm-up over: the set decay applies
    before = ema.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.model[0].weight, before + 0.01 * (model[0].weight - before), atol=1e-5)


def test_buffers_are_copied_not_averaged():
    model = _net()
    ema = EMA(model, decay=0.999)
    model.train()
    model(torch.randn(16, 3) * 5 + 2)  # BatchNorm updates its running statistics (buffers)
    ema.update(model)
    assert torch.equal(ema.model[1].running_mean, model[1].running_mean)
    assert torch.equal(ema.model[1].num_batches_tracked, model[1].num_batches_tracked)


def test_the_average_is_a_frozen_copy_in_eval_mode():
    model = _net()
    ema = EMA(model)
    assert not ema.model.training and not any(p.requires_grad for p in ema.model.parameters())
    with torch.no_grad():
        model[0].weight.zero_()
    assert ema.model[0].weight.abs().sum() > 0  # a copy, not the same tensors
    assert ema.decay == pytest.approx(0.999)
