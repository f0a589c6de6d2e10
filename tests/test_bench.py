"""The benchmark command runs end to end on the shipped models (tiny sizes here; the real run is a command)."""

import csv

import pytest
import torch

from course_utils import bench
from course_utils.bench_results import COLUMNS, load_bench, markdown_table, write_csv
from course_utils.data import data_dir
from course_utils.metrics import evaluate_samples
from course_utils.pretrained import load_classifier, load_ddpm
from course_utils.samplers import DDIMSampler, sample


@pytest.mark.slow  # samples or classifies thousands of images
def test_a_small_benchmark_run_scores_and_formats_its_rows(tmp_path, capsys):
    rows = bench.run_benchmark(20, which="uncond", unconditional_rows=[("DDIM", 5), ("SDE-DPM++2M", 4)], batch_size=10,
                               device="cpu")
    assert [(r.sampler, r.calls, r.class_accuracy) for r in rows] == [("DDIM", 5, None), ("SDE-DPM++2M", 4, None)]
    row = rows[0]
    assert row.seconds_per_100 > 0 and row.fid > 0 and row.floor > 0 and 0 <= row.recognised <= 100  # percent
    p = row.recognised / 100
    assert row.fid_sd > 0 and row.recognised_sd == pytest.approx(100 * (p * (1 - p) / 20) ** 0.5)
    again = bench.run_benchmark(20, which="uncond", unconditional_rows=[("SDE-DPM++2M", 4)], batch_size=10, device="cpu")
    assert again[0].fid == rows[1].fid  # stochastic rows are seeded too
    markdown = markdown_table(rows)
    assert markdown.splitlines()[0].startswith("| model | sampler | calls") and "| uncond | DDIM | 5 |" in markdown
    assert f"{row.fid:.2f} ± {row.fid_sd:.2f}" in markdown
    write_csv(rows, tmp_path / "bench.csv")
    with open(tmp_path / "bench.csv", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == COLUMNS and len(table) == 3
    assert float(table[1][COLUMNS.index("digit-FID")]) == pytest.approx(row.fid, abs=0.005)  # numbers, each in its own column
    assert [r.markdown_cells() for r in load_bench(tmp_path / "bench.csv")] == [r.markdown_cells() for r in rows]


@pytest.mark.slow  # samples or classifies thousands of images
def test_conditional_rows_score_each_guidance_scale_and_name_the_special_ones():
    rows = bench.run_benchmark(20, which="cond", guidance_scales=[0.0, 1.0, 3.0], batch_size=20, device="cpu")
    assert [r.guidance for r in rows] == ["w=0 (unconditional)", "w=1 (no guidance)", "w=3"]
    assert all(r.model == "cond" and r.calls == bench.GUIDED_CALLS and r.class_accuracy is not None for r in rows)
    # w = 1 is the plain conditional model: the same noise and labels through sample() score the same
    model, schedule = load_ddpm("cond")
    noise = torch.randn(20, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(20) % 10
    plain = sample(model, DDIMSampler(schedule, bench.GUIDED_CALLS), noise=noise, labels=labels, show_progress=False)
    report = evaluate_samples(load_classifier(), plain.images, labels, floor=rows[1].floor)
    assert report.digit_fid == pytest.approx(rows[1].fid, rel=1e-4)
    assert 100 * report.class_accuracy == pytest.approx(rows[1].class_accuracy)


def test_the_conditional_model_runs_the_chosen_samplers_at_the_chosen_scales():
    rows = bench.run_benchmark(20, which="cond", conditional_rows=[("SDE-DPM++2M", 4), ("DDIM", 3)],
                               guidance_scales=[0.0], batch_size=20, device="cpu")
    assert [(r.sampler, r.calls, r.guidance) for r in rows] == [("SDE-DPM++2M", 4, "w=0 (unconditional)"),
                                                                  ("DDIM", 3, "w=0 (unconditional)")]


def test_rows_are_parsed_and_bad_ones_explained():
    assert bench.parse_row("DDIM-50") == ("DDIM", 50) and bench.parse_row("DDPM-1000") == ("DDPM", 1000)
    assert bench.parse_row("DDIM-1000") == ("DDIM", 1000)
    assert bench.parse_row("DPM++2M-10") == ("DPM++2M", 10) and bench.parse_row("SDE-DPM++2M-20") == ("SDE-DPM++2M", 20)
    for bad in ("DDPM-50", "ddim-50", "DDIM-0", "DDIM50", "DDIM-x", "DDIM-2000", "DPM++-10", "SDE-DPM++2M"):
        with pytest.raises(ValueError, match="DDIM-<calls>"):
            bench.parse_row(bad)


def test_flow_rows_name_their_network_calls_and_run_on_the_flow_model(tmp_path, monkeypatch):
    """Notebook 9 reads the flow model's rows from bench.csv: model "flow", calls = network calls (Heun-9: 5 steps)."""
    from course_utils.model import TinyUNet, UNetConfig

    assert bench.parse_row("Euler-10") == ("Euler", 10) and bench.parse_row("Heun-9") == ("Heun", 9)
    assert bench.make_sampler("Heun", 9).network_calls == 9 and bench.make_sampler("Euler", 10).network_calls == 10
    with pytest.raises(ValueError, match="odd"):
        bench.parse_row("Heun-10")
    config = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, continuous_time=True)
    loaded = []
    monkeypatch.setattr(bench, "load_flow", lambda name, device: loaded.append(name) or TinyUNet(config).eval())
    rows = bench.run_benchmark(8, which="flow", flow_rows=[("Euler", 2), ("Heun", 3)], batch_size=8, device="cpu")
    assert loaded == ["flow"] and [(r.model, r.sampler, r.calls, r.guidance) for r in rows] == [
        ("flow", "Euler", 2, "—"), ("flow", "Heun", 3, "—")]
    write_csv(rows, tmp_path / "bench.csv")
    assert [r.markdown_cells() for r in load_bench(tmp_path / "bench.csv")] == [r.markdown_cells() for r in rows]
    assert bench.run_benchmark(8, which="all", unconditional_rows=[], conditional_rows=[], flow_rows=[]) == []


def test_a_model_asked_for_by_name_must_be_there(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("ran the benchmark"))
    with pytest.raises(SystemExit):
        bench.main(["--models", "flow"])
    assert "flow.pt is missing; train it with `python -m course_utils.recipes flow`" in capsys.readouterr().err


def test_each_model_gets_the_rows_of_its_kind(monkeypatch, capsys):
    given = {}

    def fake_run(n, **options):
        given.update(options)
        raise KeyboardInterrupt  # stop before the floor is measured

    monkeypatch.setattr(bench, "run_benchmark", fake_run)
    with pytest.raises(SystemExit):
        bench.main(["--rows", "DDIM-50", "Euler-10", "--device", "cpu"])
    assert given["unconditional_rows"] == given["conditional_rows"] == [("DDIM", 50)]
    assert given["flow_rows"] == [("Euler", 10)]
    with pytest.raises(SystemExit):
        bench.main(["--device", "cpu"])
    assert given["unconditional_rows"] is given["conditional_rows"] is given["flow_rows"] is None  # the defaults


@pytest.mark.parametrize("argv, message", [
    (["--models", "uncond", "--rows", "Euler-10"], "leave Euler out, or give --models flow"),
    (["--models", "flow", "--rows", "DDIM-50"], "leave DDIM out, or give --models uncond or cond"),
    (["--models", "flow", "--scales", "1"], "cannot be used with --models flow"),
    (["--models", "flow", "--eta", "1"], "none of the --rows takes it (the samplers that do: DDIM)"),
    (["--rows", "Heun-10"], "odd"),
    (["--rows", "DDIM-2000"], "1 <= calls <= 1000"),
    (["--rows", "PNDM-20"], "names no sampler"),
    (["--models", "uncond", "--scales", "1"], "cannot be used with --models uncond"),
    (["--models", "cond", "--scales", "-1"], "finite and >= 0"),
    (["--models", "cond", "--scales", "nan"], "finite and >= 0"),
    (["--models", "cond", "--scales", "two"], "invalid float value"),
])
def test_bad_row_options_stop_before_any_model_loads(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("ran the benchmark"))
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.slow  # samples or classifies thousands of images
def test_a_stochastic_ddim_row_is_named_by_its_eta():
    rows = bench.run_benchmark(20, which="uncond", unconditional_rows=[("DDIM", 5)], batch_size=20, eta=1.0, device="cpu")
    assert rows[0].sampler == "DDIM η=1"


def test_the_model_card_and_the_csv_hold_the_shipped_benchmark():
    """bench.md, bench.csv and the model card's table come from one run; a rerun that updates one must update all."""
    table = [line for line in (data_dir() / "bench.md").read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    assert "\n".join(table) in (data_dir() / "MODEL_CARD.md").read_text(encoding="utf-8"), (
        "data/MODEL_CARD.md's benchmark table differs from data/bench.md: paste the new table into the card"
    )
    assert [f"| {' | '.join(row.markdown_cells())} |" for row in load_bench()] == table[2:]
