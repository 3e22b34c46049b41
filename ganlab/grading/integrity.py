"""What a submission's code tries, read from its source before it runs.

:func:`scan` parses every code cell the student wrote or changed (check cells are the
grader's own and are skipped) and reports findings ``{"kind", "cell", "detail"}``:

* ``reference``: the code reaches a package object that a task declares as its answer
  (the check cell's ``ganlab.answers`` metadata, e.g. ``ganlab.losses.discriminator_loss``),
  by import, attribute, alias or ``getattr`` with a constant name, or reaches the checks'
  own internals (anything of ``ganlab.checks`` but its ``check_*`` functions, whose
  module holds the references), or the grading machinery (``ganlab.grading``). Names
  are resolved in the grader, so ``ganlab.checks.discriminator_loss`` counts as the
  ``ganlab.losses`` function it is. Helpers that an assignment hands out (``toy``,
  ``plots``, ``MLPGenerator``, ...) are not answers and stay allowed.
* ``patched``: it changes what other code sees: assigns to an attribute of a module
  (``torch.allclose = ...``, ``checks.check_x = ...``), calls ``setattr`` on one, touches
  builtins, ``sys.modules``, tracing and exception hooks, ``set_custom_exc``, IPython's
  events, ``gc``'s object lists, ``ctypes`` or a function's ``__code__``, or names the
  grader's own variables (``GANLAB_GRADING_RECORDS``: the kernel's records).
* ``obfuscated``: it builds code at run time (``exec``, ``eval``, ``compile``,
  ``__import__``, ``importlib``, ``getattr`` on a module with a computed name), which
  hides what it does from this scan.
* ``instructor-files``: it looks for the instructor's notebooks (a path with
  ``assignments/source`` or ``source/...ipynb``, ``__file__`` of a package module).

The sandbox and the judge make these attempts fail on their own; the findings say that
they were made. :func:`affected_checks` says which checks a finding costs.
"""

from __future__ import annotations

import ast
import importlib

REFERENCE, PATCHED, OBFUSCATED, INSTRUCTOR, ESCAPE = (
    "reference", "patched", "obfuscated", "instructor-files", "escape")
MODULE_ROOTS = ("ganlab", "torch", "numpy", "math", "builtins", "sys", "os", "scipy", "IPython",
                "nbval", "pytest", "matplotlib", "random", "F", "nn", "np", "plt")
# module attributes that a notebook may set: configuration, not behaviour
ALLOWED_MODULE_SETTINGS = ("torch.backends.", "matplotlib.rcParams", "plt.rcParams",
                           "np.set_printoptions", "torch.set_printoptions")
PATCHING_CALLS = {"set_custom_exc", "settrace", "setprofile", "addaudithook", "excepthook",
                  "get_referrers", "get_referents", "get_objects", "register_cell_magic",
                  "register_line_magic", "run_cell", "run_cell_magic", "push"}
PATCHING_NAMES = {"__builtins__", "builtins", "ctypes", "gc", "sys.modules", "inspect.currentframe",
                  "sys._getframe", "__code__", "__globals__", "__closure__", "f_globals",
                  "f_locals", "f_back"}
DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__"}
ESCAPE_CALLS = ("os.system", "os.popen", "os.spawn", "os.exec", "os.fork", "os.posix_spawn",
                "subprocess.", "socket.", "urllib.request.", "http.client.", "requests.",
                "pty.", "asyncio.create_subprocess")
INSTRUCTOR_STRINGS = ("assignments/source", "assignments\\source")


def _dotted(node) -> str | None:
    """``a.b.c`` of an expression made of names and attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call) and _dotted(node.func) == "get_ipython":
        parts.append("get_ipython()")
        return ".".join(reversed(parts))
    return None


def resolve(path: str):
    """The object at the dotted ``path`` (``ganlab.losses.discriminator_loss``), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        for part in parts[cut:]:
            try:
                obj = getattr(obj, part)
            except Exception:
                return None
        return obj
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: str, answers: dict[int, str], aliases: dict[str, str]):
        self.cell, self.answers, self.aliases = cell, answers, aliases
        self.findings: list[dict] = []

    def add(self, kind: str, detail: str, **extra):
        finding = {"kind": kind, "cell": self.cell, "detail": detail, **extra}
        if finding not in self.findings:
            self.findings.append(finding)

    def full(self, path: str) -> str:
        head, _, rest = path.partition(".")
        if head in self.aliases:
            return self.aliases[head] + ("." + rest if rest else "")
        return path

    def check_path(self, path: str, shown: str) -> None:
        path = self.full(path)
        if not path.startswith("ganlab"):
            return
        parts = path.split(".")
        if path.startswith("ganlab.grading"):
            self.add(REFERENCE, f"reaches the grading machinery: {shown}")
            return
        if "checks" in parts:
            after = parts[parts.index("checks") + 1:]
            if after and not after[0].startswith("check_"):
                self.add(REFERENCE, f"uses the checks' internals, which hold the references: "
                                    f"{shown}")
                return
        if parts[-1] in ("__file__", "__path__", "__spec__", "__loader__"):
            self.add(INSTRUCTOR, f"locates the package's files: {shown}")
            return
        obj = resolve(path)
        if obj is not None and id(obj) in self.answers:
            self.add(REFERENCE, f"uses {self.answers[id(obj)]}, the package's answer to a task "
                                f"(as {shown})", answer=self.answers[id(obj)])

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] in ("ctypes", "gc", "importlib", "builtins"):
                kind = OBFUSCATED if alias.name.startswith("importlib") else PATCHED
                self.add(kind, f"imports {alias.name}")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            self.check_path(alias.name, alias.name)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module.split(".")[0] in ("ctypes", "gc", "importlib", "builtins"):
            self.add(OBFUSCATED if module.startswith("importlib") else PATCHED,
                     f"imports from {module}")
        for alias in node.names:
            path = f"{module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = self.full(path)
            self.check_path(path, f"from {module} import {alias.name}")

    def visit_Attribute(self, node):
        path = _dotted(node)
        if path is not None:
            if isinstance(node.ctx, ast.Load):
                self.check_path(path, path)
            last = path.rsplit(".", 1)[-1]
            if last in PATCHING_CALLS or path in PATCHING_NAMES or last in PATCHING_NAMES:
                self.add(PATCHED, f"uses {path}")
            if last == "__file__" and not self.full(path).startswith("ganlab"):
                self.add(INSTRUCTOR, f"locates files through {path}")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in PATCHING_NAMES:
            self.add(PATCHED, f"uses {node.id}")
        if isinstance(node.ctx, ast.Load) and node.id in self.aliases:
            self.check_path(node.id, node.id)
        self.generic_visit(node)

    def _module_target(self, target) -> str | None:
        path = _dotted(target)
        if path is None or "." not in path:
            return None
        base = path.split(".")[0]
        full = self.full(path)
        root = full.split(".")[0]
        if base in self.aliases or root in MODULE_ROOTS or base in MODULE_ROOTS:
            if any(full.startswith(a) or path.startswith(a) for a in ALLOWED_MODULE_SETTINGS):
                return None
            obj = resolve(self.full(path.rsplit(".", 1)[0]))
            import types

            if isinstance(obj, (types.ModuleType, type)) or obj is None and root in MODULE_ROOTS:
                return path
        return None

    def _targets(self, targets):
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    path = self._module_target(node)
                    if path:
                        self.add(PATCHED, f"replaces {path}")

    def visit_Assign(self, node):
        self._targets(node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._targets([node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._targets([node.target])
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._targets([t for t in node.targets if isinstance(t, ast.Attribute)])
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                path = self._module_target(target)
                if path:
                    self.add(PATCHED, f"deletes {path}")
        self.generic_visit(node)

    def visit_Call(self, node):
        name = _dotted(node.func)
        if name in DYNAMIC_CALLS or (name or "").startswith("importlib"):
            self.add(OBFUSCATED, f"runs code built at run time ({name})")
        full = self.full(name) if name else ""
        if full.startswith(ESCAPE_CALLS):
            self.add(ESCAPE, f"starts a process or opens a connection: {name}(...)")
        if name in ("setattr", "delattr") and node.args:
            base = _dotted(node.args[0])
            if base is not None and (self.full(base).split(".")[0] in MODULE_ROOTS
                                     or base in self.aliases):
                self.add(PATCHED, f"{name}({base}, ...)")
        if name in ("getattr", "vars") and node.args:
            base = _dotted(node.args[0])
            if base is not None and self.full(base).startswith("ganlab"):
                if name == "getattr" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                        and isinstance(node.args[1].value, str):
                    self.check_path(f"{base}.{node.args[1].value}",
                                    f"getattr({base}, {node.args[1].value!r})")
                else:
                    self.add(OBFUSCATED, f"reaches into {self.full(base)} with a computed name "
                                         f"({name})")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            text = node.value.replace("\\\\", "/")
            if "GANLAB_GRADING" in text:
                self.add(PATCHED, f"reaches the grader's own settings: {node.value[:80]!r}")
            if any(s in text for s in INSTRUCTOR_STRINGS) or (
                    "source" in text and ".ipynb" in text):
                self.add(INSTRUCTOR, f"names the instructor's notebooks: {node.value[:80]!r}")
        self.generic_visit(node)


def answer_objects(answers: dict[str, list[str]]) -> dict[int, str]:
    """``{id(object): dotted name}`` of every declared answer that can be imported."""
    found = {}
    for names in answers.values():
        for name in names:
            obj = resolve(name)
            if obj is not None:
                found[id(obj)] = name
    return found


def scan(cells: list[tuple[str, str]], answers: dict[str, list[str]]) -> list[dict]:
    """Findings in the student's code cells ``[(cell id, source), ...]`` (see the docstring).

    ``answers`` maps each check id to the dotted names of its answers. A cell that cannot
    be parsed is skipped (it fails when it runs). IPython syntax (``%magic``, ``!cmd``)
    is read as the Python it stands for where that matters.
    """
    objects = answer_objects(answers)
    findings: list[dict] = []
    aliases: dict[str, str] = {}
    for cell_id, source in cells:
        text = _python(source)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        scanner = _Scanner(cell_id, objects, aliases)
        scanner.visit(tree)
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("!") or stripped.startswith("%%bash") or \
                    stripped.startswith(("%system", "%%script", "%sx", "%%sh")):
                scanner.add(ESCAPE, f"runs a shell command: {stripped[:80]}")
            elif stripped.startswith(("%run", "%load", "%%writefile", "%env")):
                scanner.add(OBFUSCATED, f"uses the magic {stripped.split()[0]}")
        findings += scanner.findings
    return findings


def _python(source: str) -> str:
    """The cell with IPython's magics and shell lines blanked, so that it parses as Python."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def affected_checks(finding: dict, check_order: list[str], cell_order: list[str],
                    answers: dict[str, list[str]]) -> list[str]:
    """The checks a finding costs: for an answer taken from the package, the checks that
    declare it; for patching, obfuscation and instructor files, every check that runs
    after the cell; an escape costs none (it is reported, and the sandbox stopped it)."""
    kind = finding["kind"]
    if kind == ESCAPE:
        return []
    if kind == REFERENCE and finding.get("answer"):
        return [c for c in check_order if finding["answer"] in answers.get(c, [])]
    position = {c: i for i, c in enumerate(cell_order)}
    where = position.get(finding.get("cell"), -1)
    return [c for c in check_order if position.get(c, len(cell_order)) > where]
