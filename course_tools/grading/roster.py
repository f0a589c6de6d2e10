"""The class list (``--roster FILE``): a CSV as an LMS exports it, matched to the submissions' names.

Canvas's gradebook export (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ...; its "Points Possible"
row is skipped), Moodle's participants (``First name``, ``Last name``/``Surname``, ``ID number``,
``Email address``) and Blackboard's grade centre (``Last Name``, ``First Name``, ``Username``, ``Student ID``)
all work, as does any CSV with a ``name`` column. A submission matches a roster row when its name (a folder
name, or the name an LMS download puts in its file names, such as Canvas's ``lovelaceada``) equals, ignoring
case, accents, spaces and punctuation, any of the row's ids, logins, e-mail addresses (or the part before
the @) or its name in either order.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

NAME_COLUMNS = ("student", "name", "full name", "student name", "display name")
FIRST, LAST = ("first name", "firstname", "given name"), ("last name", "lastname", "surname", "family name")
ID_COLUMNS = ("id", "sis user id", "sis login id", "login id", "login", "username", "user name", "user id", "email",
              "email address", "e-mail", "id number", "student id", "student number", "integration id")


def key(text: str) -> str:
    """``text`` for matching: lower case, without accents, spaces or punctuation."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return "".join(c for c in text.lower() if c.isalnum())


@dataclass
class Entry:
    name: str  # as the gradebook shows it
    keys: set[str] = field(default_factory=set)


class RosterError(ValueError):
    """The roster cannot be used; the message says why and what to do."""


def read(path: Path) -> list[Entry]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RosterError(f"cannot read the roster {path}: {err}") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise RosterError(f"the roster {path} has no rows under its header")
    columns = {key(c): c for c in rows[0] if c}
    name = next((columns[key(c)] for c in NAME_COLUMNS if key(c) in columns), None)
    first = next((columns[key(c)] for c in FIRST if key(c) in columns), None)
    last = next((columns[key(c)] for c in LAST if key(c) in columns), None)
    ids = [columns[key(c)] for c in ID_COLUMNS if key(c) in columns]
    if not (name or (first and last) or ids):
        raise RosterError(f"the roster {path} has no name, first/last name or id column (its columns: "
                          f"{', '.join(list(rows[0])[:8])}); export it from the LMS, or give a CSV with a 'name' column")
    entries = []
    for row in rows:
        full = (row.get(name) or "").strip() if name else ""
        given, family = ((row.get(first) or "").strip(), (row.get(last) or "").strip()) if first and last else ("", "")
        if not full:
            full = f"{given} {family}".strip()
        if not full and ids:
            full = next((str(row.get(c)).strip() for c in ids if row.get(c)), "")
        if not full or key(full) in ("pointspossible", "mutedassignment") or full.lower().startswith("points possible"):
            continue
        keys = {key(full)}
        if "," in full:  # Canvas: "Lovelace, Ada"
            family, given = (p.strip() for p in full.split(",", 1))
        elif not given and " " in full:
            given, family = full.rsplit(" ", 1)
        keys |= {key(given + family), key(family + given)} if given and family else set()
        for column in ids:
            value = str(row.get(column) or "").strip()
            if value:
                keys |= {key(value), key(value.split("@")[0])}
        entries.append(Entry(full, {k for k in keys if k}))
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RosterError(f"the roster {path} lists {', '.join(twice[:3])} more than once")
    return entries


def match(entries: list[Entry], student: str) -> Entry | None:
    """The roster row a submission's name stands for, or None (no row, or more than one)."""
    wanted = key(student)
    hits = [e for e in entries if wanted and wanted in e.keys]
    return hits[0] if len(hits) == 1 else None
