"""Time the grader on a generated class.

    python -m course_tools.grading.bench --students 200 --jobs 2

Generates ``--students`` students (right, wrong, blank, copied, forged, missing and unreadable submissions of
notebooks 01 and 05, in turn; see fakeclass.BENCH_KINDS), grades them in checks-only mode as
``python -m course_tools.grading`` would, each student in a sandbox of its own, and prints the wall time, the
machine's load before and after, and the status counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import grade_folder
from .fakeclass import lesson, make_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grading.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--isolation", choices=("auto", "os", "bwrap"), default="auto")
    parser.add_argument("--unsafe-plain", action="store_true", help="time the grader without a sandbox")
    parser.add_argument("--all-cells", action="store_true", help="run every cell (quick mode) instead of checks-only")
    args = parser.parse_args(argv)
    from .gradebook import Options
    from .sandbox import choose

    mode = choose(args.isolation, allow_plain=args.unsafe_plain)
    stems = [lesson("01"), lesson("05")]
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "submissions", Path(tmp) / "gradebook"
        started = time.monotonic()
        make_class(root, args.students, stems)
        made = time.monotonic() - started
        load_before = os.getloadavg()
        options = Options(jobs=args.jobs, all_cells=args.all_cells)
        started = time.monotonic()
        cpu_before = os.times()
        result = grade_folder(root, out, notebooks=["01", "05"], options=options, isolation=args.isolation,
                              allow_plain=args.unsafe_plain)
        seconds = time.monotonic() - started
        cpu = os.times()
        cpu_seconds = (cpu.user + cpu.system + cpu.children_user + cpu.children_system
                       - cpu_before.user - cpu_before.system - cpu_before.children_user - cpu_before.children_system)
        load_after = os.getloadavg()
    submissions = len({(r.student, r.notebook) for r in result.rows})
    print(f"class: {args.students} students, {submissions} due submissions (notebooks 01 and 05), generated in {made:.1f} s")
    print(f"isolation: {mode.name}; jobs: {args.jobs}; cells: {'all' if args.all_cells else 'checks-only'}; "
          f"CPUs: {os.cpu_count()}")
    print(f"load average before: {load_before[0]:.2f}, after: {load_after[0]:.2f} (other work on the machine slows the grader)")
    print(f"graded in {seconds:.1f} s wall ({seconds / 60:.1f} min), {cpu_seconds:.0f} CPU s; "
          f"{seconds / max(1, args.students):.2f} s per student")
    print("statuses: " + ", ".join(f"{k}: {n}" for k, n in sorted(Counter(r.status for r in result.rows).items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
