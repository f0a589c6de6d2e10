"""Grade a folder of submitted student notebooks with the same checks students ran.

    python -m course_tools.grading SUBMISSIONS --out gradebook

SUBMISSIONS holds one folder per student, each with that student's notebooks
(``SUBMISSIONS/ada/01_adding_noise_by_hand.ipynb``, ...). Every notebook is
executed top to bottom in a fresh kernel, in its own process, with a time
limit (``--timeout``, seconds per notebook); errors in a cell do not stop the
run, and a notebook that crashes or times out does not stop the others.
The verdict lines the checks print (``✅ [nb01.add_noise] passed: ...``) are
read from the executed outputs, so the gradebook says exactly what the student
saw. An exercise whose check never printed a verdict is marked failed, with
the reason. Writes ``gradebook.csv`` and ``gradebook.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course_utils.checks import EXERCISES, VERDICT_PATTERN


@dataclass
class Grade:
    student: str
    notebook: str
    exercise: str
    passed: bool
    message: str


def execute_notebook(path: Path, timeout: int, quick: bool = True) -> tuple[dict | None, str]:
    """Run ``path`` in a subprocess with a time limit; return (executed notebook or None, problem)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        env = dict(os.environ, COURSE_QUICK="1" if quick else "0", TQDM_DISABLE="1", MPLBACKEND="Agg")
        code = (
            "import sys, nbformat; from nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], as_version=4)\n"
            "NotebookClient(nb, timeout=None, allow_errors=True, kernel_name='python3',\n"
            "               resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
            "nbformat.write(nb, sys.argv[2])\n"
        )
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code, str(path), str(out), str(path.parent)],
                env=env, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return None, f"the notebook did not finish within {timeout} s"
        if proc.returncode != 0 or not out.exists():
            last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            return None, f"the notebook could not be run ({last})"
        return json.loads(out.read_text(encoding="utf-8")), ""


def verdicts_from_notebook(nb: dict) -> tuple[dict[str, tuple[bool, str]], str]:
    """Every check verdict printed in an executed notebook, and the first error seen (if any)."""
    pattern = re.compile(VERDICT_PATTERN, re.MULTILINE)
    verdicts, first_error = {}, ""
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and not first_error:
                first_error = f"{output.get('ename')}: {output.get('evalue')}"
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            for m in pattern.finditer(text):
                message = m.group("message").strip()
                verdicts[m.group("exercise")] = (m.group("verdict") == "passed", message)
    return verdicts, first_error


def grade_notebook(student: str, path: Path, timeout: int, quick: bool = True) -> list[Grade]:
    notebook = path.stem
    expected = [ex.id for ex in EXERCISES.values() if ex.notebook == notebook]
    nb, problem = execute_notebook(path, timeout, quick)
    verdicts, first_error = verdicts_from_notebook(nb) if nb is not None else ({}, "")
    grades = []
    for exercise in expected + sorted(set(verdicts) - set(expected)):
        if exercise in verdicts:
            passed, message = verdicts[exercise]
        else:
            passed = False
            why = problem or (f"the first error was {first_error}" if first_error else "its check cell was removed")
            message = f"no verdict: the check did not run ({why})"
        grades.append(Grade(student, notebook, exercise, passed, message))
    return grades


def grade_folder(submissions: Path, timeout: int = 600, quick: bool = True) -> list[Grade]:
    grades = []
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        for nb_path in sorted(student_dir.glob("*.ipynb")):
            print(f"grading {student_dir.name}/{nb_path.name}", flush=True)
            grades += grade_notebook(student_dir.name, nb_path, timeout, quick)
    return grades


def write_gradebook(grades: list[Grade], out: Path) -> tuple[Path, Path]:
    """Write ``out.csv`` and ``out.md``; return their paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out.with_suffix(".csv"), out.with_suffix(".md")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "notebook", "exercise", "result", "message"])
        for g in grades:
            writer.writerow([g.student, g.notebook, g.exercise, "pass" if g.passed else "fail", g.message])
    lines = ["# Gradebook", "", "| student | passed | of |", "|---|---|---|"]
    for student in sorted({g.student for g in grades}):
        mine = [g for g in grades if g.student == student]
        lines.append(f"| {student} | {sum(g.passed for g in mine)} | {len(mine)} |")
    lines += ["", "| student | notebook | exercise | result | message |", "|---|---|---|---|---|"]
    for g in grades:
        message = g.message.replace("|", "\\|")
        lines.append(f"| {g.student} | {g.notebook} | {g.exercise} | {'pass' if g.passed else 'fail'} | {message} |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grading", description=__doc__.split("\n")[0])
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder of notebooks per student")
    parser.add_argument("--out", type=Path, default=Path("gradebook"), help="gradebook path without extension")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per notebook")
    parser.add_argument("--full", action="store_true", help="run notebooks at full size instead of quick mode")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder", file=sys.stderr)
        return 2
    grades = grade_folder(args.submissions, args.timeout, quick=not args.full)
    csv_path, md_path = write_gradebook(grades, args.out)
    print(f"{sum(g.passed for g in grades)} of {len(grades)} exercises passed; wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
