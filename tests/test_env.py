import pytest
import torch

from course_utils import env


def test_quick_mode_reads_one_variable(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    assert env.is_quick_mode() and env.quick(100, 2) == 2
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not env.is_quick_mode() and env.quick(100, 2) == 100


def test_set_seed_makes_draws_repeat():
    g1 = env.set_seed(7)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = env.set_seed(7)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_device_pick_prefers_cuda_then_mps_then_cpu_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    mps = getattr(torch.backends, "mps", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: True)
        assert env.pick_device() == torch.device("mps")
        monkeypatch.setattr(mps, "is_available", lambda: False)
    assert env.pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.pick_device("cpu") == torch.device("cpu")  # an explicit choice wins
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert env.pick_device() == torch.device("cpu")


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert not env.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-1")
    assert env.in_colab()


def test_progress_is_quiet_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert env.progress(range(3)).disable


def test_seconds_per_call_keeps_the_fastest_and_checks_repeats():
    calls = []
    assert env.seconds_per_call(lambda: calls.append(1), repeats=4, warmup=2) >= 0
    assert len(calls) == 6  # two untimed warm-up calls, then four timed ones
    with pytest.raises(ValueError, match="repeats"):
        env.seconds_per_call(lambda: None, repeats=0)


def test_time_thread_counts_runs_each_count_and_restores_the_setting():
    before = torch.get_num_threads()
    seen = []
    timings = env.time_thread_counts(lambda: seen.append(torch.get_num_threads()), counts=[1, 2], repeats=1)
    assert sorted(timings) == [1, 2] and all(v >= 0 for v in timings.values())
    assert set(seen) == {1, 2}  # fn really ran under each setting
    assert torch.get_num_threads() == before
    assert sorted(env.time_thread_counts(lambda: None, repeats=1)) == sorted({1, env.DEFAULT_NUM_THREADS})
    with pytest.raises(ValueError, match="counts"):
        env.time_thread_counts(lambda: None, counts=[0])


def test_threads_are_measured_once_remembered_and_reused(monkeypatch, tmp_path):
    from course_utils import env

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(env.THREADS_ENV_VAR, raising=False)
    calls = []

    def fake_timings(fn, counts, repeats):
        calls.append(list(counts))
        return {n: 1.0 / n if n <= 2 else 1.0 for n in counts}  # two threads are fastest

    monkeypatch.setattr(env, "time_thread_counts", fake_timings)
    before = torch.get_num_threads()
    try:
        first = env.choose_threads()
        assert first.threads == 2 and first.source == "measured now" and calls and all(n <= 8 for n in calls[0])
        again = env.choose_threads()
        assert again.threads == 2 and "measured earlier" in again.source and len(calls) == 1
        assert torch.get_num_threads() == 2
        env.choose_threads(remeasure=True)
        assert len(calls) == 2
        assert "CPU threads: 2" in env.describe_environment()
        monkeypatch.setenv(env.THREADS_ENV_VAR, "1")
        assert env.choose_threads().threads == 1 and torch.get_num_threads() == 1 and len(calls) == 2
        for bad in ("zero", "0", str(env.MAX_THREADS + 1)):
            monkeypatch.setenv(env.THREADS_ENV_VAR, bad)
            with pytest.raises(ValueError, match="COURSE_THREADS.*unset it"):
                env.choose_threads()
    finally:
        torch.set_num_threads(before)


def test_an_unreadable_thread_file_is_measured_again(monkeypatch, tmp_path):
    from course_utils import env

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(env.THREADS_ENV_VAR, raising=False)
    (tmp_path / "diffusion-course").mkdir()
    (tmp_path / "diffusion-course" / "threads.json").write_text("{not json")
    monkeypatch.setattr(env, "time_thread_counts", lambda fn, counts, repeats: {n: float(n) for n in counts})
    before = torch.get_num_threads()
    try:
        assert env.choose_threads().threads == 1
    finally:
        torch.set_num_threads(before)
