"""A similarity column, like MOSS: functions whose normalised syntax tree matches the reference's or a classmate's.

The tree is normalised so that renaming variables, reformatting, comments and the docstring change nothing:
parameters and local names become ``v0, v1, ...`` in order of appearance. Two functions match when their
normalised trees are equal; short functions (fewer than MIN_NODES nodes, such as a one-line formula every
student writes the same way) are never reported. It reports and never fails: the instructor reads the pair.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

MIN_NODES = 30


class _Normalise(ast.NodeTransformer):
    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node):
        node.name = "f"
        node.decorator_list = []
        node.returns = None
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store) or node.id in self.names:
            node.id = self._name(node.id)
        return node


def shape(source: str) -> tuple[str, int] | None:
    """(digest of the normalised tree of the first function in ``source``, its size in nodes), or None."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return None
    fn = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None:
        return None
    fn = _Normalise().visit(fn)
    size = sum(1 for _ in ast.walk(fn))
    return hashlib.sha256(ast.dump(fn, annotate_fields=False).encode()).hexdigest(), size


def reference_shape(reference) -> tuple[str, int] | None:
    try:
        return shape(inspect.getsource(reference))
    except (OSError, TypeError):
        return None


def similar(sources: dict[str, str], reference) -> dict[str, str]:
    """{student: "the reference" or "ana, bob"} for each student whose function matches the reference or others."""
    ref = reference_shape(reference)
    shapes = {student: shape(src) for student, src in sources.items() if src}
    groups: dict[str, list[str]] = {}
    for student, s in shapes.items():
        if s is not None and s[1] >= MIN_NODES:
            groups.setdefault(s[0], []).append(student)
    out = {}
    for student, s in shapes.items():
        if s is None or s[1] < MIN_NODES:
            continue
        notes = []
        if ref is not None and s[0] == ref[0]:
            notes.append("the reference")
        others = sorted(o for o in groups.get(s[0], []) if o != student)
        if others:
            notes.append(", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else ""))
        if notes:
            out[student] = "; ".join(notes)
    return out
