"""Evidence of a check: recorded in the kernel, replayed by the grader outside it.

A check of :mod:`ganlab.checks` reaches the student's code only through
:func:`ganlab.checks.call` (and :func:`observe` for what it reads off a student's object).
While grading, those are the two points where this module steps in:

* **in the kernel** (:class:`Recorder`, on when ``GANLAB_GRADING_RECORDS`` names a folder)
  every check runs as usual, for the student's messages, and each call of student code
  is written down as *data*: a sketch of its inputs, what it returned (tensors with the
  gradients that the check's backward passes sent from them to the check's own leaf
  tensors, so that those can be replayed), what it raised, and how it left the check's own arguments (parameters and
  gradients of its modules, the log of its optimizers, the state of its random
  generators). One file per check call, in the kernel's records folder.
* **in the grader** (:class:`Replayer`, used by :mod:`ganlab.grading.judge`) the same check
  runs again, in a process that never ran student code, with the real references of this
  package. Each call of student code is answered from the record instead: the inputs the
  grader drew must match the sketch, then the recorded effects are applied to the
  grader's own arguments and the recorded result is returned. The check's own code then
  decides, as it does for a student.

The inputs are drawn from a seed chosen at grading time (``GANLAB_GRADING_SEED``, mixed
with the check's own ``seed`` by :func:`grading_seed`), so no output can be prepared in
advance. Records are read with ``torch.load(weights_only=True)``: tensors, numbers,
strings and containers only, so a record cannot run code in the grader.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

RECORDS_ENV = "GANLAB_GRADING_RECORDS"   # folder the kernel writes its records to
SEED_ENV = "GANLAB_GRADING_SEED"         # the seed of this grading run
MAX_GRADIENTS = 16                       # backward passes recorded per result
MAX_RECORD_BYTES = 256 * 2**20           # a larger record file is not read
SKETCH_POINTS = 64                       # values of a large tensor kept in its sketch

_state = {"recorder": None, "replayer": None, "depth": 0, "cell": None, "count": 0}


def grading_seed(check: str, seed) -> object:
    """The seed a check uses while grading: its own ``seed`` mixed with the run's secret one.

    Outside grading (no ``GANLAB_GRADING_SEED``) the check's seed is used as it is.
    """
    secret = os.environ.get(SEED_ENV)
    if secret is None or not isinstance(seed, int) or isinstance(seed, bool):
        return seed
    digest = hashlib.sha256(f"{secret}:{check}:{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def begin_cell(cell_id: str) -> None:
    """Mark the start of a check cell: the grader puts this call at the top of each one."""
    _state["cell"] = str(cell_id)


# --- the decorator of every check -----------------------------------------------------------


def graded(check: Callable) -> Callable:
    """Make ``check`` record (in a grading kernel) or replay (in the judge) its evidence.

    The outermost check call does it; checks called by other checks are part of it.
    """
    parameters = inspect.signature(check).parameters
    takes_seed = "seed" in parameters
    default_seed = parameters["seed"].default if takes_seed else None

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        if _state["depth"] > 0 or not (_recording() or _state["replayer"] is not None):
            _state["depth"] += 1
            try:
                return check(*args, **kwargs)
            finally:
                _state["depth"] -= 1
        seed = kwargs.get("seed", default_seed)
        if takes_seed:
            kwargs["seed"] = grading_seed(check.__name__, seed)
        replayer = _state["replayer"]
        if replayer is not None:
            replayer.start(check.__name__, seed)
            return _run_outermost(check, args, kwargs)
        recorder = Recorder(check.__name__, seed)
        _state["recorder"] = recorder
        try:
            result = _run_outermost(check, args, kwargs)
        except BaseException as error:
            recorder.claim = {"passed": False, "message": _first_line(error)}
            raise
        else:
            recorder.claim = {"passed": True, "message": None}
            return result
        finally:
            _state["recorder"] = None
            recorder.save()

    wrapper.__graded__ = True
    return wrapper


def _run_outermost(check, args, kwargs):
    __tracebackhide__ = True
    _state["depth"] += 1
    try:
        return check(*args, **kwargs)
    finally:
        _state["depth"] -= 1


def _recording() -> bool:
    return bool(os.environ.get(RECORDS_ENV))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:500]


# --- the two points where a check meets student code ------------------------------------------


def intercept(description: str, fn, args: tuple, kwargs: dict, run: Callable[[], object]):
    """``run()`` (the check's call of ``fn(*args, **kwargs)``), recorded or replayed."""
    __tracebackhide__ = True
    recorder, replayer = _state["recorder"], _state["replayer"]
    if replayer is not None:
        return replayer.call(description, fn, args, kwargs, run)
    if recorder is not None:
        return recorder.call(description, args, kwargs, run)
    return run()


def observe(key: str, compute: Callable[[], object]):
    """``compute()``: what a check reads off a student's object, recorded or replayed.

    Use it for what cannot go through :func:`ganlab.checks.call`, such as the list of
    layers a student's network ran. Its value is the kernel's word: the grader cannot
    re-derive it, so checks rely on it for hints and structure, not for numbers.
    """
    __tracebackhide__ = True
    recorder, replayer = _state["recorder"], _state["replayer"]
    if replayer is not None:
        return replayer.observe(key)
    value = compute()
    if recorder is not None:
        recorder.entries.append({"kind": "observe", "key": key, "value": encode(value)})
    return value


# --- the kernel's side ------------------------------------------------------------------------


class Recorder:
    """The evidence of one check call in the kernel, saved when the check ends."""

    def __init__(self, check: str, seed):
        self.check, self.seed, self.cell = check, seed, _state["cell"]
        self.entries: list[dict] = []
        self.claim: dict | None = None

    def call(self, description: str, args: tuple, kwargs: dict, run):
        __tracebackhide__ = True
        entry = {"kind": "call", "description": description,
                 "sketch": sketch((args, kwargs)), "outcome": "returned"}
        self.entries.append(entry)
        try:
            result = run()
        except BaseException as error:
            entry.update(outcome="raised", message=str(error)[:4000])
            raise
        try:
            entry["result"] = encode(result, leaves=_leaves((args, kwargs)))
            entry["effects"] = effects((args, kwargs))
        except Exception as error:  # a result the record cannot hold: the replay says so
            entry.update(outcome="unrecordable", message=f"{type(error).__name__}: {error}"[:500])
        return result

    def save(self) -> None:
        folder = Path(os.environ.get(RECORDS_ENV, ""))
        if not str(folder) or not folder.is_dir():
            return
        _state["count"] += 1
        record = {"version": 1, "check": self.check, "seed": self.seed, "cell": self.cell,
                  "claim": self.claim, "entries": self.entries}
        path = folder / f"{os.getpid()}-{_state['count']:05d}.pt"
        tmp = path.with_suffix(".tmp")
        try:
            torch.save(record, tmp)
            os.replace(tmp, path)
        except Exception:  # a record that cannot be written is a missing one: the check fails
            with contextlib.suppress(OSError):
                tmp.unlink()


# --- the grader's side ------------------------------------------------------------------------


class ReplayFailure(AssertionError):
    """The record of the kernel does not answer the grader's call: the check fails."""


class Replayer:
    """Answers a check's calls of student code from the kernel's records (see the docstring).

    ``records`` are the decoded records of one check cell, in the order the kernel wrote
    them; each check call takes the first unused one with its name and seed.
    """

    def __init__(self, records: list[dict]):
        self.records = list(records)
        self.used: list[dict] = []
        self.entries: list[dict] = []
        self.current: dict | None = None

    def start(self, check: str, seed) -> None:
        record = next((r for r in self.records if r.get("check") == check
                       and r.get("seed") == seed and not any(r is u for u in self.used)), None)
        self.current = record
        if record is not None:
            self.used.append(record)
        self.entries = list(record.get("entries", [])) if record is not None else []

    def _next(self, kind: str, what: str) -> dict:
        __tracebackhide__ = True
        if self.current is None:
            raise ReplayFailure("this check did not run in your notebook's kernel (was it "
                                "skipped, replaced or stopped?), so the grader has no result "
                                f"of {what} to judge")
        while self.entries:
            entry = self.entries.pop(0)
            if isinstance(entry, dict) and entry.get("kind") == kind:
                return entry
        raise ReplayFailure(f"your notebook's kernel has no result of {what} for this check "
                            "(the check stopped early there, or was changed)")

    def call(self, description: str, fn, args: tuple, kwargs: dict, run):
        __tracebackhide__ = True
        entry = self._next("call", description)
        if not _same_sketch(entry.get("sketch"), sketch((args, kwargs))):
            raise ReplayFailure(f"{description}: the inputs your kernel used differ from the "
                                "grader's (the check was run with other inputs, or changed)")
        if not _is_replayed(fn):
            # the check's own callable (out.backward, a ganlab function): run it here, and
            # fail where the kernel's run failed too
            result = run()
            if entry.get("outcome") == "raised":
                raise AssertionError(str(entry.get("message", "")))
            return result
        outcome = entry.get("outcome")
        if outcome == "raised":
            raise AssertionError(str(entry.get("message", "")))
        if outcome != "returned":
            raise ReplayFailure(f"{description} returned something the grader cannot judge: "
                                f"{entry.get('message', '')}")
        apply_effects((args, kwargs), entry.get("effects"))
        return decode(entry.get("result"), leaves=_leaves((args, kwargs)))

    def observe(self, key: str):
        __tracebackhide__ = True
        entry = self._next("observe", key)
        if entry.get("key") != key:
            raise ReplayFailure(f"your kernel's record of this check is out of order ({key})")
        return decode(entry.get("value"))


def is_replaying() -> bool:
    """True inside :func:`replaying`: a check then runs in the grader, on recorded results."""
    return _state["replayer"] is not None


@contextlib.contextmanager
def replaying(replayer: Replayer):
    """Within the block every check answers its calls of student code from ``replayer``."""
    _state["replayer"] = replayer
    try:
        yield replayer
    finally:
        _state["replayer"] = None


class Student:
    """A student's function or class in the judge: it can only be replayed, never run."""

    def __init__(self, name: str):
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        raise ReplayFailure(f"{self.__name__} cannot run in the grader: only its recorded "
                            "results can be replayed")

    def __repr__(self):
        return f"<student object {self.__name__}>"


class StudentModule(nn.Module):
    """A student's ``nn.Module`` in the judge: its plain attributes, its methods replayed."""

    def __init__(self, type_name: str, attributes: Mapping, methods: list[str]):
        super().__init__()
        self._student_type = type_name
        self._student_methods = set(methods)
        for key, value in attributes.items():
            if key != "training":
                object.__setattr__(self, key, value)
        self.training = bool(attributes.get("training", True))

    def __getattr__(self, name):
        methods = self.__dict__.get("_student_methods", set())
        if name in methods:
            method = Student(name)
            method.__self__ = self
            return method
        return super().__getattr__(name)

    def forward(self, *args, **kwargs):
        raise ReplayFailure(f"{self._student_type} cannot run in the grader: only its recorded "
                            "results can be replayed")


def _is_replayed(fn) -> bool:
    return isinstance(fn, (Student, StudentModule)) or isinstance(
        getattr(fn, "__self__", None), StudentModule)


# --- data: encoding, sketches, effects --------------------------------------------------------


def encode(value, leaves: list[torch.Tensor] | None = None, depth: int = 0):
    """``value`` as data that ``torch.load(weights_only=True)`` reads back (see :func:`decode`)."""
    if depth > 20:
        raise ValueError("the result is nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value, leaves or [])
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.array(value, copy=True))} \
            if value.dtype != object else {"__object__": "ndarray of objects", "attributes": {}}
    if isinstance(value, np.generic):
        return {"__numpy__": value.dtype.str, "value": value.item()}
    if isinstance(value, (list, tuple)):
        items = [encode(v, leaves, depth + 1) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else {"__list__": items}
    if isinstance(value, Mapping):
        return {"__dict__": [[encode(k, None, depth + 1), encode(v, leaves, depth + 1)]
                             for k, v in value.items()]}
    if isinstance(value, torch.Generator):
        return {"__object__": "Generator", "attributes": {}}
    return _encode_object(value)


def _encode_tensor(t: torch.Tensor, leaves: list[torch.Tensor]) -> dict:
    value = t.detach().clone().contiguous()
    if value.layout != torch.strided:
        value = value.to_dense()
    out = {"__tensor__": value.cpu(), "requires_grad": bool(t.requires_grad),
           "leaves": len(leaves), "gradients": []}
    if t.requires_grad and leaves:
        _record_gradients(t, leaves, out["gradients"])
    return out


def _record_gradients(t: torch.Tensor, leaves: list[torch.Tensor], log: list) -> None:
    """Note, each time a gradient flows back into ``t``, what reaches the check's leaves.

    The check's own backward pass in the kernel fires the hook: it stores the incoming
    gradient and the vector-Jacobian product for every leaf, which the grader's
    :class:`_Replayed` returns when its backward pass brings the same gradient.
    """
    busy = []

    def hook(grad):
        if busy or len(log) >= MAX_GRADIENTS:  # busy: the hook's own backward pass below
            return None
        busy.append(True)
        try:
            grads = torch.autograd.grad(t, leaves, grad, retain_graph=True, allow_unused=True)
        finally:
            busy.clear()
        log.append([grad.detach().clone(),
                    [None if g is None else g.detach().clone() for g in grads]])
        return None

    t.register_hook(hook)


class _Replayed(torch.autograd.Function):
    """A recorded result in the grader, whose backward pass returns the recorded gradients."""

    @staticmethod
    def forward(ctx, value, gradients, *leaves):
        ctx.gradients = gradients
        ctx.shapes = [leaf.shape for leaf in leaves]
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        for incoming, grads in ctx.gradients:
            if isinstance(incoming, torch.Tensor) and incoming.shape == grad.shape and \
                    torch.allclose(incoming.to(grad.dtype), grad, rtol=1e-5, atol=1e-8):
                out = []
                for g, shape in zip(grads, ctx.shapes, strict=True):
                    out.append(None if g is None else _as_tensor(g).reshape(shape))
                return (None, None, *out)
        raise ReplayFailure("the check backpropagated a gradient through your result that your "
                            "notebook's kernel never did (was the check changed?)")


def _encode_object(value) -> dict:
    """A student's object: its type, plain attributes and own methods (it stays in the kernel)."""
    attributes = {}
    for key, item in list(getattr(value, "__dict__", {}).items())[:200]:
        if key.startswith("_") and key != "training":
            continue
        if item is None or isinstance(item, (bool, int, float, str)):
            attributes[key] = item
    methods = []
    if isinstance(value, nn.Module):
        for cls in type(value).__mro__:
            if cls in (nn.Module, object) or cls.__module__.startswith("torch."):
                break
            methods += [k for k, v in vars(cls).items() if callable(v) and not k.startswith("__")]
    return {"__object__": type(value).__name__, "module": isinstance(value, nn.Module),
            "callable": callable(value), "attributes": attributes, "methods": sorted(set(methods))}


def decode(data, leaves: list[torch.Tensor] | None = None):
    """The value :func:`encode` wrote, in the grader; tensors with replayable gradients."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):  # not written by encode, but harmless
        return [decode(d, leaves) for d in data]
    if not isinstance(data, dict):
        raise ReplayFailure(f"unexpected data in the record: {type(data).__name__}")
    if "__tensor__" in data:
        return _decode_tensor(data, leaves or [])
    if "__ndarray__" in data:
        return _as_tensor(data["__ndarray__"]).numpy()
    if "__numpy__" in data:
        return np.dtype(str(data["__numpy__"])).type(data["value"])
    if "__tuple__" in data:
        return tuple(decode(d, leaves) for d in data["__tuple__"])
    if "__list__" in data:
        return [decode(d, leaves) for d in data["__list__"]]
    if "__dict__" in data:
        return {_hashable(decode(k)): decode(v, leaves) for k, v in data["__dict__"]}
    if "__object__" in data:
        attributes = data.get("attributes") or {}
        if data.get("module"):
            return StudentModule(str(data["__object__"]), attributes,
                                 [str(m) for m in data.get("methods") or []])
        student = Student(str(data["__object__"]))
        for key, value in attributes.items():
            setattr(student, str(key), value)
        return student
    raise ReplayFailure("unexpected data in the record")


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _as_tensor(value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ReplayFailure("unexpected data in the record: a tensor was expected")
    return value


def _decode_tensor(data: dict, leaves: list[torch.Tensor]) -> torch.Tensor:
    value = _as_tensor(data["__tensor__"])
    if not data.get("requires_grad"):
        return value
    gradients = data.get("gradients") or []
    if not leaves or data.get("leaves") != len(leaves) or not isinstance(gradients, list):
        return value.clone().requires_grad_(value.is_floating_point() or value.is_complex())
    checked = []
    for item in gradients:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], list) \
                and len(item[1]) == len(leaves):
            checked.append((item[0], item[1]))
    return _Replayed.apply(value, checked, *leaves)


def _leaves(args) -> list[torch.Tensor]:
    """The check's own tensors a result may depend on: leaf tensors that require grad and
    the trainable parameters of its modules, found in the same order on both sides."""
    found, seen = [], set()

    def add(t):
        if id(t) not in seen:
            seen.add(id(t))
            found.append(t)

    def walk_graph(t):
        stack, visited = [t.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or id(node) in visited:
                continue
            visited.add(id(node))
            variable = getattr(node, "variable", None)
            if isinstance(variable, torch.Tensor):
                add(variable)
            stack.extend(reversed([n for n, _ in node.next_functions]))

    for value in _items(args):
        if isinstance(value, torch.Tensor):
            if value.requires_grad:
                add(value) if value.grad_fn is None else walk_graph(value)
        elif isinstance(value, nn.Module):
            for p in value.parameters():
                if p.requires_grad:
                    add(p)
    return found


def _items(value, depth: int = 0):
    """The values inside the lists, tuples and dicts of ``value``, depth first."""
    if depth > 10:
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _items(v, depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _items(v, depth + 1)
    else:
        yield value


def sketch(value, depth: int = 0):
    """A small summary of the inputs of a call, to tell whether two runs used the same ones.

    Tensors and arrays give their shape, dtype and a few of their values (and sums), so
    that the comparison tolerates the last bits that threading may change.
    """
    if depth > 10:
        return "..."
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, torch.Tensor):
        return _sketch_array(value.detach().cpu())
    if isinstance(value, np.ndarray) and value.dtype != object:
        return _sketch_array(torch.from_numpy(np.array(value, copy=True)))
    if isinstance(value, np.generic):
        return value.item() if isinstance(value.item(), (bool, int, float, str)) else str(value)
    if isinstance(value, (list, tuple)):
        return [sketch(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return [[str(k), sketch(v, depth + 1)] for k, v in value.items()]
    if isinstance(value, nn.Module) and not isinstance(value, StudentModule) \
            and type(value).__module__.startswith(("ganlab", "torch")):
        params = [p.detach().reshape(-1) for p in value.parameters()]
        return {"module": type(value).__name__,
                "parameters": _sketch_array(torch.cat(params)) if params else None}
    if isinstance(value, torch.Generator):
        return {"generator": hashlib.sha256(value.get_state().numpy().tobytes()).hexdigest()}
    return {"object": type(value).__name__}


def _sketch_array(t: torch.Tensor) -> dict:
    shape = list(t.shape)
    if t.is_complex() or t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (
            torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        t = t.to(torch.float64) if t.dtype == torch.bool else t
    flat = t.reshape(-1).to(torch.float64) if not t.is_complex() else t.reshape(-1).abs().double()
    n = flat.numel()
    if n <= SKETCH_POINTS:
        points = flat.clone()
    else:
        index = torch.linspace(0, n - 1, SKETCH_POINTS).round().long()
        points = flat[index]
    finite = flat[torch.isfinite(flat)]
    return {"shape": shape, "dtype": str(t.dtype), "points": points,
            "sum": float(finite.sum()) if finite.numel() else 0.0,
            "abs": float(finite.abs().sum()) if finite.numel() else 0.0}


def _same_sketch(a, b, rel: float = 1e-4) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False
        return all(_same_sketch(a[k], b[k], rel) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_sketch(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape:
            return False
        scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
        return bool(torch.allclose(a.double(), b.double(), rtol=rel, atol=rel * scale,
                                   equal_nan=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    return a == b


def effects(args) -> list:
    """How a call left the check's own objects in ``args`` (in the order of :func:`_items`)."""
    return [_state_of(obj) for obj in _walk_objects(args)]


def apply_effects(args, recorded) -> None:
    """Leave the grader's objects in ``args`` as the kernel's were after the call."""
    objects = _walk_objects(args)
    if not isinstance(recorded, list) or len(recorded) != len(objects):
        raise ReplayFailure("your kernel's record of this call does not match the grader's "
                            "arguments")
    for obj, state in zip(objects, recorded, strict=True):
        _set_state(obj, state)


def _walk_objects(args) -> list:
    found, seen = [], set()
    for value in _items(args):
        if isinstance(value, (torch.Tensor, nn.Module, torch.optim.Optimizer, torch.Generator)) \
                and not isinstance(value, StudentModule) and id(value) not in seen:
            seen.add(id(value))
            found.append(value)
    return found


def _tensor_state(t: torch.Tensor) -> dict:
    grad = t.grad if t.is_leaf else None
    return {"data": t.detach().clone(), "grad": None if grad is None else grad.detach().clone(),
            "requires_grad": bool(t.requires_grad)}


def _state_of(obj) -> dict:
    if isinstance(obj, torch.Tensor):
        return {"tensor": _tensor_state(obj)}
    if isinstance(obj, nn.Module):
        return {"module": [_tensor_state(p) for p in obj.parameters()],
                "buffers": [b.detach().clone() for b in obj.buffers()],
                "training": [m.training for m in obj.modules()]}
    if isinstance(obj, torch.optim.Optimizer):
        log = getattr(obj, "log", None)
        return {"optimizer": encode(list(log)) if isinstance(log, list) else None}
    if isinstance(obj, torch.Generator):
        return {"generator": obj.get_state().clone()}
    return {}


def _set_tensor(t: torch.Tensor, state) -> None:
    if not isinstance(state, dict):
        raise ReplayFailure("unexpected data in the record")
    data = _as_tensor(state.get("data"))
    if data.shape != t.shape:
        raise ReplayFailure("a recorded tensor has the wrong shape")
    with torch.no_grad():
        if not torch.equal(data.to(t.dtype), t.detach()):
            t.copy_(data)
    if t.is_leaf:
        grad = state.get("grad")
        t.grad = None if grad is None else _as_tensor(grad).to(t.dtype).reshape(t.shape).clone()
        if bool(state.get("requires_grad")) != t.requires_grad:
            t.requires_grad_(bool(state.get("requires_grad")))


def _set_state(obj, state) -> None:
    if not isinstance(state, dict):
        raise ReplayFailure("unexpected data in the record")
    if isinstance(obj, torch.Tensor):
        _set_tensor(obj, state.get("tensor"))
    elif isinstance(obj, nn.Module):
        params, buffers = list(obj.parameters()), list(obj.buffers())
        recorded, recorded_buffers = state.get("module") or [], state.get("buffers") or []
        if len(recorded) != len(params) or len(recorded_buffers) != len(buffers):
            raise ReplayFailure("a recorded module has other parameters than the grader's")
        for p, s in zip(params, recorded, strict=True):
            _set_tensor(p, s)
        with torch.no_grad():
            for b, s in zip(buffers, recorded_buffers, strict=True):
                b.copy_(_as_tensor(s).to(b.dtype).reshape(b.shape))
        for m, flag in zip(obj.modules(), state.get("training") or [], strict=False):
            m.training = bool(flag)
    elif isinstance(obj, torch.optim.Optimizer):
        log = getattr(obj, "log", None)
        if isinstance(log, list) and state.get("optimizer") is not None:
            log[:] = decode(state["optimizer"])
    elif isinstance(obj, torch.Generator):
        obj.set_state(_as_tensor(state.get("generator")).to(torch.uint8))


_loaded: dict[tuple, object] = {}  # (path, size, mtime) -> record or None, read once


def load_records(folder: str | os.PathLike, limit: int = 10_000) -> list[dict]:
    """The records of a kernel's folder, oldest first; files that are no record are skipped."""
    records = []
    try:
        paths = sorted((p.stat().st_mtime_ns, p.name, p) for p in Path(folder).glob("*.pt"))
    except OSError:
        return records
    for mtime, _, path in paths[:limit]:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        key = (str(path), size, mtime)
        if key not in _loaded:
            record = None
            if size <= MAX_RECORD_BYTES:
                try:
                    record = torch.load(path, weights_only=True, map_location="cpu")
                except Exception:
                    record = None
            ok = isinstance(record, dict) and isinstance(record.get("entries"), list)
            _loaded[key] = record if ok else None
        if _loaded[key] is not None:
            records.append(_loaded[key])
    return records
