"""What a notebook holds, read without running any of it.

Which of the course's exercises it contains (a notebook is recognised by the
exercise checks it calls, not by its file name), which cell defines each
exercise function, which earlier cells that cell needs (checks-only mode runs
just those), and whether the function is the course's reference or calls it.
All of this is static analysis in the grader's own process: nothing a
submission does at run time can change it.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from IPython.core.inputtransformer2 import TransformerManager

from ..nbio import cell_source
from .verdicts import check_functions

_BUILTINS = set(dir(builtins)) | {"get_ipython", "display", "__name__", "__file__"}
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.MULTILINE)


@lru_cache(maxsize=4096)
def python_source(source: str) -> str:
    """The cell as plain Python (IPython magics and ``!commands`` turned into calls)."""
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # a cell IPython itself cannot read; ast.parse will report it
        return source


@dataclass
class Cell:
    """One code cell: its position in the notebook and the names it binds and reads."""

    index: int  # position in nb["cells"]
    source: str  # as plain Python
    tree: ast.Module | None  # None: a syntax error
    binds: set[str] = field(default_factory=set)
    now: set[str] = field(default_factory=set)  # names read while the cell runs
    later: set[str] = field(default_factory=set)  # names read by functions it defines, when they are called
    star: bool = False  # has `from x import *`


# ---------------------------------------------------------------------------- names bound and read


def _target_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}


def _import_binds(node: ast.Import | ast.ImportFrom) -> set[str]:
    out = set()
    for alias in node.names:
        if alias.name == "*":
            continue
        out.add(alias.asname or alias.name.split(".")[0])
    return out


class _Scanner(ast.NodeVisitor):
    """Names bound and read by one statement, with function bodies kept apart (they run later)."""

    def __init__(self) -> None:
        self.binds: set[str] = set()
        self.now: set[str] = set()
        self.later: set[str] = set()
        self.star = False

    def visit_Name(self, node: ast.Name) -> None:
        (self.now if isinstance(node.ctx, ast.Load) else self.binds).add(node.id)

    def visit_Import(self, node: ast.Import) -> None:
        self.binds |= _import_binds(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.binds |= _import_binds(node)
        self.star |= any(a.name == "*" for a in node.names)

    def visit_Global(self, node: ast.Global) -> None:
        self.binds |= set(node.names)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        params = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = _Scanner()
        for stmt in body:
            inner.visit(stmt)
        declared_global = {n for stmt in body for g in ast.walk(stmt) if isinstance(g, ast.Global) for n in g.names}
        local = (params | inner.binds) - declared_global
        self.later |= (inner.now | inner.later) - local
        self.binds |= declared_global

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.binds.add(node.name)
        self._function(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.binds.add(node.name)
        for expr in node.bases + [k.value for k in node.keywords] + node.decorator_list:
            self.visit(expr)
        inner = _Scanner()
        for stmt in node.body:
            inner.visit(stmt)
        self.now |= inner.now - inner.binds
        self.later |= inner.later

    def _comprehension(self, node: ast.AST) -> None:
        inner = _Scanner()
        for child in ast.iter_child_nodes(node):
            inner.visit(child)
        self.now |= inner.now - inner.binds
        self.later |= inner.later

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension


def analyse(nb: dict) -> list[Cell]:
    """Every code cell of ``nb`` with the names it binds and reads (an unparsable cell binds nothing)."""
    cells = []
    for index, raw in enumerate(nb.get("cells", [])):
        if not isinstance(raw, dict) or raw.get("cell_type") != "code":
            continue
        source = python_source(cell_source(raw))
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            cells.append(Cell(index, source, None))
            continue
        cell = Cell(index, source, tree)
        bound_so_far: set[str] = set()
        for stmt in tree.body:
            scan = _Scanner()
            scan.visit(stmt)
            cell.now |= scan.now - bound_so_far - _BUILTINS
            cell.later |= scan.later - _BUILTINS
            cell.star |= scan.star
            bound_so_far |= scan.binds
        cell.binds = bound_so_far
        cells.append(cell)
    return cells


# ---------------------------------------------------------------------------- recognising a notebook


@lru_cache(maxsize=1)
def _check_names() -> dict[str, str]:
    """check function name -> exercise id (also the names a check had before, which old notebooks call)."""
    from course_utils.checks import EXERCISES

    names = {fn.__name__: exercise_id for exercise_id, fn in check_functions().items()}
    for exercise in EXERCISES.values():
        names.update({old: exercise.id for old in getattr(exercise, "old_checks", ())})
    return names


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def check_calls(cell: Cell) -> list[tuple[str, int]]:
    """(check name, line of the top-level statement that calls it) for every check this cell really calls.

    Comments and strings that mention a check do not count; neither does a cell that cannot be parsed.
    """
    if cell.tree is None:
        return []
    names = _check_names()
    out = []
    for stmt in cell.tree.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and _called_name(node) in names:
                out.append((_called_name(node), stmt.lineno))
    return out


def exercises_in(nb: dict) -> set[str]:
    """The ids of the course's exercises whose checks this notebook calls (or, failing that, whose functions it defines)."""
    from course_utils.checks import EXERCISES

    names = _check_names()
    cells = analyse(nb)
    found = {names[name] for cell in cells for name, _ in check_calls(cell)}
    if found:
        return found
    defined = {n.name for c in cells if c.tree is not None for n in ast.walk(c.tree)
               if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    texts = [cell_source(c) for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    defined |= {m for text in texts for m in _DEF.findall(text)}  # also in cells that do not parse
    by_function: dict[str, list[str]] = {}
    for ex in EXERCISES.values():
        by_function.setdefault(ex.function, []).append(ex.id)
    return {ids[0] for function, ids in by_function.items() if function in defined and len(ids) == 1}


def lesson_of(nb: dict) -> tuple[str | None, set[str]]:
    """The lesson (notebook stem) whose exercises this notebook holds, and the exercise ids found."""
    from course_utils.checks import EXERCISES

    found = exercises_in(nb)
    if not found:
        return None, found
    counts: dict[str, int] = {}
    for exercise_id in found:
        counts[EXERCISES[exercise_id].notebook] = counts.get(EXERCISES[exercise_id].notebook, 0) + 1
    best = max(sorted(counts), key=lambda k: counts[k])
    return best, {e for e in found if EXERCISES[e].notebook == best}


# ---------------------------------------------------------------------------- what to run for an exercise


@dataclass
class ExercisePlan:
    """Where an exercise lives in one notebook, and what must run before its function can be called."""

    exercise: str
    function: str
    snapshot: tuple[int, int] | None  # (cell, line): the function is taken just before that line; None: after the run
    def_cell: int | None  # the cell of the student's last own binding of `function` (None: not attempted)
    cells: set[int]  # indices to run (checks-only mode)

    @property
    def check_cell(self) -> int | None:
        return self.snapshot[0] if self.snapshot else None


def _is_check_result(stmt: ast.stmt) -> bool:
    """``f = check_f(f)``: the check's rebinding, not the student's own definition."""
    value = getattr(stmt, "value", None)
    return isinstance(value, ast.Call) and _called_name(value) in _check_names()


_DYNAMIC = {"exec", "eval", "globals"}


def _binds_dynamically(stmt: ast.stmt) -> bool:
    """A statement that may bind any name at run time: ``exec(...)``, ``globals()[...] = ...`` (not inside a def)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _DYNAMIC for n in ast.walk(stmt))


def _own_bindings(cells: list[Cell], name: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(cell, line) of every top-level statement that binds ``name`` as the student's own work, and of every one
    that may bind any name at run time (``exec(...)``), in notebook order."""
    out, dynamic = [], []
    for cell in cells:
        if cell.tree is None:
            continue
        for stmt in cell.tree.body:
            scan = _Scanner()
            scan.visit(stmt)
            if name in scan.binds and not _is_check_result(stmt):
                out.append((cell.index, stmt.lineno))
            elif _binds_dynamically(stmt):
                dynamic.append((cell.index, stmt.lineno))
    return out, dynamic


def _last_binder(cells: list[Cell], name: str, before: int) -> Cell | None:
    for cell in reversed(cells):
        if cell.index < before and (name in cell.binds or cell.star):
            if name in cell.binds:
                return cell
            star = cell  # a star import might bind it; keep looking for an explicit binding first
            for earlier in reversed(cells):
                if earlier.index < star.index and name in earlier.binds:
                    return earlier
            return star
    return None


def plan_exercise(nb: dict, cells: list[Cell], exercise_id: str) -> ExercisePlan:
    """Where to take the student's function, and the cells it needs.

    The function graded is the student's last own binding of the name (a ``def``, an import, an assignment;
    not the check's rebinding), taken just before the first check call that follows it, as the check would
    receive it; a ``def`` and its check may share a cell. Without a later check call, the function is taken
    after the run. The cells run are the one that binds it and, by the names each cell reads, those it needs:
    names read when the cell runs come from earlier cells; names its functions read when called (helpers,
    constants) from the last cell before the snapshot that binds them, or, for helpers placed further down, the
    last one anywhere.
    """
    from course_utils.checks import EXERCISES

    exercise = EXERCISES[exercise_id]
    exercise_id = exercise.id
    check_names = {name for name, e in _check_names().items() if e == exercise_id}
    own, dynamic = _own_bindings(cells, exercise.function)
    pattern = re.compile(rf"^\s*def\s+{re.escape(exercise.function)}\s*\(", re.MULTILINE)
    broken = [(c.index, 1) for c in cells if c.tree is None and pattern.search(c.source)]
    if broken and (not own or broken[-1] > own[-1]):  # its last def does not parse: run it, so the error is reported
        own = own + broken[-1:]
    calls = sorted((cell.index, line) for cell in cells for name, line in check_calls(cell) if name in check_names)
    # An exec(...) may be what binds it: one after the last explicit binding and before its check, or, without
    # any explicit binding, the last one before the first check.
    after = own[-1] if own else (-1, -1)
    until = next((c for c in calls if c > after), (10**9, 0))
    dynamic = [d for d in dynamic if after < d < until]
    if not own and not dynamic:
        return ExercisePlan(exercise_id, exercise.function, None, None, set())
    binding = dynamic[-1] if dynamic else own[-1]
    snapshot = next((c for c in calls if c > binding), None)
    limit = snapshot[0] + 1 if snapshot else len(nb.get("cells", [])) + 1
    by_index = {c.index: c for c in cells}
    selected: set[int] = set()
    stack = [binding[0]] + ([own[-1][0]] if own else [])
    while stack:
        index = stack.pop()
        if index in selected:
            continue
        selected.add(index)
        cell = by_index[index]
        wanted = [(n, cell.index, False) for n in cell.now] + [(n, limit, True) for n in cell.later]
        for name, before, late in wanted:
            binder = _last_binder(cells, name, before)
            if binder is None and late:
                binder = _last_binder(cells, name, len(nb.get("cells", [])) + 1)
            if binder is not None and binder.index not in selected:
                stack.append(binder.index)
    return ExercisePlan(exercise_id, exercise.function, snapshot, binding[0], selected)


# ---------------------------------------------------------------------------- copying the reference


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def _aliases(stmts: list[ast.stmt]) -> dict[str, str]:
    """name -> dotted import path, for the import statements among ``stmts`` (not inside functions)."""
    out: dict[str, str] = {}
    for node in stmts:
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []:
            if isinstance(sub, ast.Import):
                for a in sub.names:
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
                for a in sub.names:
                    if a.name != "*":
                        out[a.asname or a.name] = f"{sub.module}.{a.name}"
    return out


def _resolve(path: str):
    """The course object at a dotted path (only ``course_utils`` is ever imported here), or None."""
    if not (path == "course_utils" or path.startswith("course_utils.")):
        return None
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def is_reference(obj, reference) -> bool:
    """``obj`` is the reference, a wrapper of it, or shares its code."""
    seen = 0
    while obj is not None and seen < 10:
        if obj is reference:
            return True
        code = getattr(obj, "__code__", None)
        if code is not None and code is getattr(reference, "__code__", object()):
            return True
        obj = getattr(obj, "__wrapped__", None) or getattr(obj, "func", None)
        seen += 1
    return False


def reference_use(cells: list[Cell], plan: ExercisePlan) -> str:
    """Why the exercise's function is the course's reference or calls it ("" when it does not, as far as the source shows)."""
    from course_utils.checks import EXERCISES

    if plan.def_cell is None:
        return ""
    reference = EXERCISES[plan.exercise].reference
    parsed = [c for c in cells if c.tree is not None and c.index <= plan.def_cell]
    aliases: dict[str, str] = {}
    defs: dict[str, ast.AST] = {}
    for cell in parsed:
        aliases.update(_aliases(cell.tree.body))
        for stmt in cell.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs[stmt.name] = stmt
    # imports at the top of any cell up to the check count too (a copy may be imported after the def)
    limit = plan.check_cell if plan.check_cell is not None else 10**9
    for cell in cells:
        if cell.tree is not None and plan.def_cell < cell.index < limit:
            aliases.update(_aliases(cell.tree.body))

    def names_reference(node: ast.AST, local: dict[str, str]) -> str:
        chain = _dotted(node)
        if not chain:
            return ""
        root = local.get(chain[0], aliases.get(chain[0]))
        if root is None:
            return ""
        path = ".".join([root] + chain[1:])
        return path if is_reference(_resolve(path), reference) else ""

    visited: set[str] = set()

    def scan_function(node: ast.AST, depth: int = 0) -> str:
        local = _aliases(node.body if isinstance(node.body, list) else [])
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(getattr(sub, "ctx", None), ast.Load):
                hit = names_reference(sub, local)
                if hit:
                    return f"it calls {hit}"
                if isinstance(sub, ast.Name) and sub.id in defs and sub.id not in visited and depth < 5:
                    visited.add(sub.id)
                    inner = scan_function(defs[sub.id], depth + 1)
                    if inner:
                        return f"{inner} (through {sub.id})"
        return ""

    definer = next(c for c in cells if c.index == plan.def_cell)
    if definer.tree is None:
        return ""
    binding = None
    for stmt in definer.tree.body:  # the last top-level statement that binds the function's name
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == plan.function:
            binding = stmt
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)) and plan.function in _import_binds(stmt):
            binding = stmt
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and plan.function in _target_names(stmt):
            binding = stmt
    if binding is None:
        return ""
    if isinstance(binding, (ast.Import, ast.ImportFrom)):
        path = _aliases([binding]).get(plan.function, "")
        return f"it is imported from {path}" if is_reference(_resolve(path), reference) else ""
    if isinstance(binding, (ast.Assign, ast.AnnAssign)):
        value = binding.value
        hit = names_reference(value, {}) if value is not None else ""
        if hit:
            return f"it is {hit}"
        return scan_function(ast.Module(body=[ast.Expr(value)], type_ignores=[])) if value is not None else ""
    visited.add(plan.function)
    return scan_function(binding)
