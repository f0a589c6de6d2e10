"""The recipes that made the shipped checkpoints (course_utils.recipes)."""

from pathlib import Path

import pytest

from course_utils import recipes, train
from course_utils.pretrained import checkpoint_info


def test_every_stage_after_the_first_starts_from_the_one_before():
    cmds = recipes.commands("uncond", Path("out.pt"), threads=2)
    assert len(cmds) == 5
    assert "--init" not in cmds[0] and cmds[0][:2] == ["--preset", "mnist-uncond"]
    for argv in cmds[1:]:
        assert argv[argv.index("--init") + 1] == "out.pt" and argv[-2:] == ["--out", "out.pt"]
        assert argv[argv.index("--threads") + 1] == "2"
    assert recipes.commands("uncond", from_stage=4) == recipes.commands("uncond")[3:]
    with pytest.raises(ValueError, match="between 1 and 5"):
        recipes.commands("uncond", from_stage=6)


def test_the_recipe_adds_up_to_the_steps_of_the_shipped_models():
    for name in ("uncond", "cond"):
        steps = sum(int(argv[argv.index("--steps") + 1]) for argv in recipes.commands(name))
        assert steps == checkpoint_info(name)["train"]["total_steps"], name


def test_running_a_recipe_runs_its_stages_in_order(monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(train, "main", lambda argv: ran.append(argv))
    assert recipes.main(["uncond", "--from-stage", "4", "--out", "m.pt"]) == 0
    assert ran == recipes.commands("uncond", Path("m.pt"), from_stage=4)
    assert "stage 4 of 5: python -m course_utils.train --preset mnist-uncond --init m.pt" in capsys.readouterr().out
    ran.clear()
    recipes.main(["cond", "--dry-run"])
    assert ran == []
