"""The written contract between the grader and the sandboxed harness: what one job asks, what comes back.

A *job* is one student's due notebooks. The grader (:mod:`course_tools.grading.gradebook`) builds a
:class:`Job`; the sandbox (:mod:`course_tools.grading.sandbox`) starts a fresh interpreter for it and sends
it :meth:`Job.wire` (JSON) and the cases (``torch.save`` bytes) on its standard input; the harness
(:mod:`course_tools.grading.harness`) answers on a pipe with framed messages (:func:`frame`): one
``notebook`` message per notebook and ``event`` messages as things happen. The grader reads them into
an :class:`Outcome` per notebook.

Everything on the wire is plain data: JSON for the spec and the events, ``torch.load(weights_only=True)``
for the results, so nothing a submission sends can run code in the grader.
"""

from __future__ import annotations

import json
import struct
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

PROTOCOL = 2
HEADER = struct.Struct("!cI")  # kind (b"J" json, b"T" torch bytes), length
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one message; the grader stops reading a child past MAX_JOB_BYTES
MAX_JOB_BYTES = 256 * 1024 * 1024
# PyTorch CPU threads for a graded call in the sandbox and for judging it in the grader. A sum split over other
# threads rounds otherwise, and a training step's optimizer can magnify that past a check's tolerance.
THREADS = 1


@contextmanager
def threads():
    """Compute with THREADS PyTorch threads, then put back the count in force before."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ExerciseTask:
    """One due exercise of one notebook, and where the harness takes its function."""

    id: str  # "nb01.add_noise"
    function: str  # the name the student completes
    snapshot: tuple[int, int] | None  # (cell index, line): take the function just before that line runs; None: at the end


@dataclass(frozen=True)
class NotebookTask:
    """One submitted notebook: the cells to run and the exercises to call."""

    key: str  # unique within the job, e.g. "01_adding_noise_by_hand"
    notebook: dict  # the submitted notebook's JSON
    run_cells: tuple[int, ...]
    exercises: tuple[ExerciseTask, ...]
    timeout: float  # seconds for the whole notebook (cells and calls)


@dataclass(frozen=True)
class Job:
    """One student's due notebooks, run one after another in one sandbox, each in a process of its own."""

    student: str
    notebooks: tuple[NotebookTask, ...]
    cell_timeout: float = 300.0
    call_timeout: float = 30.0
    quick: bool = True
    uids: tuple[int, ...] = ()  # os mode: the user id each notebook's process runs as (one per notebook, never reused)

    def wire(self) -> bytes:
        return json.dumps({"protocol": PROTOCOL, **asdict(self)}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_wire(cls, data: bytes) -> Job:
        raw = json.loads(data.decode("utf-8"))
        if raw.pop("protocol", None) != PROTOCOL:
            raise ValueError("the grader and the harness speak different protocol versions")
        notebooks = tuple(
            NotebookTask(n["key"], n["notebook"], tuple(n["run_cells"]),
                         tuple(ExerciseTask(e["id"], e["function"], tuple(e["snapshot"]) if e["snapshot"] else None)
                               for e in n["exercises"]),
                         float(n["timeout"]))
            for n in raw.pop("notebooks"))
        raw["uids"] = tuple(raw.get("uids", ()))
        return cls(notebooks=notebooks, **raw)


@dataclass
class Outcome:
    """What the grader received about one notebook (never what the child wrote to a file)."""

    results: dict | None = None  # the harness's payload for this notebook, or None
    problem: str = ""  # why there are no results
    seconds: float = 0.0
    events: list[dict] = field(default_factory=list)  # what the harness's audit hook and profiler saw, as it happened
    tampered: list[str] = field(default_factory=list)  # changes to watched files, found by checksums


def frame(kind: bytes, body: bytes) -> bytes:
    """One message on the result pipe."""
    return HEADER.pack(kind, len(body)) + body


class Reader:
    """Reassembles framed messages from the bytes read off one pipe; refuses oversized ones."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.total = 0
        self.problem = ""

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.total += len(data)
        if self.total > MAX_JOB_BYTES:
            self.problem = f"it sent more than {MAX_JOB_BYTES // 2**20} MB"
            return []
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self.buffer)
            if kind not in (b"J", b"T") or length > MAX_MESSAGE_BYTES:
                self.problem = "it sent something that is not in the grader's format"
                self.buffer.clear()
                return out
            if len(self.buffer) < HEADER.size + length:
                break
            out.append((kind, bytes(self.buffer[HEADER.size:HEADER.size + length])))
            del self.buffer[:HEADER.size + length]
        return out
