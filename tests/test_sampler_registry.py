"""Every entry of the sampler registry (course_utils.sampler_registry.SAMPLERS), found by iterating it: a new sampler
gets these tests without an edit here. Each entry's name parses back from a row, builds a sampler that keeps the
written protocol (its network calls are the row's number), runs through sample() on its kind of model, and a wrong
name or count is refused with the known names."""

import pytest
import torch

from course_utils.model import TinyUNet, UNetConfig
from course_utils.sampler_registry import SAMPLERS, make_sampler, parse_row, sampler_entry
from course_utils.samplers import Sampler, sample
from course_utils.schedules import make_schedule

T = 30  # a short schedule: every row of every sampler runs in a moment
SCHEDULE = make_schedule("linear", T)


def _model(kind: str) -> TinyUNet:
    torch.manual_seed(0)
    return TinyUNet(UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False,
                               continuous_time=kind == "flow")).eval()


def _calls(entry) -> int:
    return T if entry.every_step else 5  # odd, as Heun needs (two calls per step, one for its last)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_entry_parses_back_builds_to_the_protocol_and_samples(name):
    entry = sampler_entry(name)
    calls = _calls(entry)
    assert parse_row(f"{name}-{calls}", T) == (name, calls)
    sampler = make_sampler(name, calls, SCHEDULE if entry.model == "ddpm" else None)
    assert isinstance(sampler, Sampler), f"{name}: build a class that keeps the Sampler protocol (samplers.py)"
    assert sampler.network_calls == calls, f"the number in a row's name is its network calls: {name}-{calls}"
    assert isinstance(sampler.name, str) and sampler.name
    model = _model(entry.model)
    images = sample(model, sampler, 2, generator=torch.Generator().manual_seed(0), show_progress=False).images
    assert images.shape == (2, 1, 28, 28) and bool(torch.isfinite(images).all())
    counted = []
    forward = model.forward
    model.forward = lambda *args, **kwargs: counted.append(1) or forward(*args, **kwargs)
    sample(model, make_sampler(name, calls, SCHEDULE if entry.model == "ddpm" else None), 2,
           generator=torch.Generator().manual_seed(0), show_progress=False)
    assert len(counted) == calls, f"{name}-{calls} called the network {len(counted)} times"


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_a_misspelt_name_or_a_count_out_of_range_is_refused_with_the_known_names(name):
    with pytest.raises(ValueError, match="the samplers are") as err:
        sampler_entry(name + "x")
    assert all(known in str(err.value) for known in SAMPLERS)
    for bad in (f"{name}-0", f"{name}-{T + 1}", f"{name}-many"):
        with pytest.raises(ValueError, match="a row is"):
            parse_row(bad, T)
