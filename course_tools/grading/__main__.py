import sys

from .integrity import poisoned

bad = poisoned()
if bad:
    shown = "\n  ".join(str(p) for p in bad[:10])
    print(f"error: {len(bad)} bytecode files of the course do not match their source (an earlier run without a "
          f"sandbox may have written them):\n  {shown}\nDelete them (find course_utils course_tools -name __pycache__ "
          "-prune -exec rm -r {} +) and run again; look at what the earlier run's summary.md reports.", file=sys.stderr)
    sys.exit(2)

from . import main  # noqa: E402  (only after the check above)

sys.exit(main())
