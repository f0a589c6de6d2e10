"""Answers that used to pass their checks and then crash later cells, put into the real notebooks: the check
now says ✗ NOT YET with the hint that names the mistake, and the cells below that use the name run (quick mode)."""

import json
import re

import pytest

from course_tools import notebooks

pytestmark = [pytest.mark.slow, pytest.mark.instructor]  # needs the instructor's files

# notebook, {function: wrong body}, the last cell to run, {exercise id: words its hint must contain}
SCENARIOS = {
    "nb01 noising_step with math.sqrt": (
        "01_adding_noise_by_hand",
        {"noising_step": "return math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * noise"},
        35, {"nb01.noising_step": "one value per image"}),
    "nb04 eps_prediction_loss returning .item()": (
        "04_training_a_tiny_ddpm",
        {"eps_prediction_loss": "x_t = q_sample(x0, t, schedule, noise=noise)\n"
                                "    return ((model(x_t, t) - noise) ** 2).mean().item()"},
        16, {"nb04.eps_prediction_loss": "loss.backward()"}),
    "nb06 ddim_sigma returning a Python float": (
        "06_ddim_fast_deterministic_sampling",
        {"ddim_sigma": "import math\n"
                       "    return eta * math.sqrt((1 - abar_prev) / (1 - abar_t)) * math.sqrt(1 - abar_t / abar_prev)"},
        11, {"nb06.ddim_sigma": "torch.stack"}),
    "nb08 float32 statistics and a tensor distance": (
        "08_measuring_what_we_made",
        {"gaussian_stats": "mu = features.mean(0)\n    centered = features - mu\n"
                           "    return mu, centered.T @ centered / (features.shape[0] - 1)",
         "frechet_distance": "from course_utils.metrics import frechet_distance as reference\n"
                             "    return torch.tensor(reference(mu1, cov1, mu2, cov2))"},
        21, {"nb08.gaussian_stats": "float64", "nb08.frechet_distance": "Python float"}),
    "nb08 matrix roots of unclamped eigenvalues (cell 21 printed nan)": (
        "08_measuring_what_we_made",
        {"frechet_distance": "def root(m):\n        values, vectors = torch.linalg.eigh(m)\n"
                             "        return (vectors * values.sqrt()) @ vectors.T\n\n"
                             "    r = root(cov1.double())\n"
                             "    d2 = (mu1 - mu2).pow(2).sum() + torch.trace(cov1 + cov2 - 2 * root(r @ cov2.double() @ r))\n"
                             "    return float(d2.clamp(min=0))"},
        21, {"nb08.frechet_distance": "negative eigenvalues"}),
}


def _with_wrong_answers(notebook: str, answers: dict[str, str], last_cell: int) -> dict:
    nb = json.loads((notebooks.SOLUTIONS_DIR / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        for function, body in answers.items():
            if f"def {function}(" in text and "### BEGIN SOLUTION" in text:
                text = re.sub(r"### BEGIN SOLUTION\n.*?    ### END SOLUTION", lambda m, b=body: b, text, flags=re.S)
        cell["source"] = text
        cell["outputs"] = [] if cell["cell_type"] == "code" else cell.get("outputs")
        if cell["cell_type"] != "code":
            cell.pop("outputs", None)
    nb["cells"] = nb["cells"][: last_cell + 1]
    return nb


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_formerly_passing_wrong_answer_fails_its_check_and_the_cells_below_still_run(scenario, tmp_path, monkeypatch):
    notebook, answers, last_cell, hints = SCENARIOS[scenario]
    for name, value in (("COURSE_QUICK", "1"), ("TQDM_DISABLE", "1"), ("MPLBACKEND", "Agg")):
        monkeypatch.setenv(name, value)  # the kernel inherits them
    import nbformat  # here, not at the top: a notebook's run needs it, collecting the tests does not
    from nbclient import NotebookClient

    executed = nbformat.from_dict(_with_wrong_answers(notebook, answers, last_cell))
    NotebookClient(executed, timeout=900, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(executed["cells"]) if c["cell_type"] == "code"
              for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, errors
    text = "\n".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    for exercise_id, words in hints.items():
        line = next(line for line in text.splitlines() if line.startswith(f"✗ NOT YET [{exercise_id}]:"))
        hint = text[text.index(line):].split("\n   →")[0]
        assert words in hint, hint
    below = "\n".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                      and "= check_" not in "".join(c["source"]) for o in c["outputs"])
    assert not re.search(r"\bnan\b|\binf\b", below, re.IGNORECASE), below  # the cells below print numbers
