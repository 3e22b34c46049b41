"""Helpers shared by the checks of every unit: failing with a hint, calling student code.

See :mod:`ganlab.checks` for how the checks teach and how the grader uses them.
"""

from __future__ import annotations

import linecache
import math
from collections.abc import Callable, Mapping
from typing import NoReturn

import numpy as np
import torch
from torch import nn

from ganlab.grading import evidence

NOT_IMPLEMENTED = "{name} is not implemented yet: fill in the cell marked YOUR CODE HERE"
IMAGE_SHAPE = (1, 28, 28)
# modules whose own NotImplementedError is not a student's stub
_LIBRARY_MODULES = ("torch", "ganlab", "numpy", "builtins")


FAILED_HEADER = "Check failed:"  # how a notebook shows a failing check (the grader reads it)
_RED, _BOLD, _DIM, _RESET = "\x1b[1;31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"


class CheckFailed(AssertionError):
    """The failure of a check: its message is the hint (first line) and the details below.

    A notebook shows it as the hint alone, not as a traceback through the checks'
    internals: IPython displays what :meth:`_render_traceback_` returns instead. The full
    traceback stays one step away: ``%tb`` in a new cell shows it.
    """

    _rendered_in = None  # IPython's execution count when the hint was first shown

    def _render_traceback_(self) -> list[str]:
        """The lines IPython shows for this error: the hint, or on ``%tb`` the traceback.

        The cell that failed renders it (in IPython 9 twice: for its output and for the
        history), always under one execution count. Rendered again under another count, it
        is ``%tb`` in a later cell asking for the last error's traceback: that gets
        IPython's usual traceback, with the student's code and the checks' frames.
        """
        shell = _ipython()
        count = getattr(shell, "execution_count", None)
        if self._rendered_in is None:
            self._rendered_in = count
        elif count != self._rendered_in and self.__traceback__ is not None:
            return shell.InteractiveTB.structured_traceback(type(self), self, self.__traceback__)
        return self.hint_lines()

    def hint_lines(self) -> list[str]:
        """What a notebook shows: ``Check failed: <hint>`` in colour, the details, where the
        student's code raised the error the check reports (if it did), and how to see
        the full traceback."""
        hint, *details = str(self).splitlines() or [""]
        where = _where_raised(self.__cause__)
        return [f"{_RED}{FAILED_HEADER}{_RESET} {_BOLD}{hint}{_RESET}", *details,
                *([f"raised at {where}"] if where else []),
                f"{_DIM}(run %tb in a new cell to see the full traceback){_RESET}"]


def _ipython():
    """The running IPython shell, or None (plain Python, or IPython not installed)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _where_raised(error: BaseException | None) -> str | None:
    """``"add_noise, line 2: return x.foo"``: the innermost line of notebook code (module
    ``__main__``, i.e. a cell) in the traceback of ``error``."""
    found = None
    tb = error.__traceback__ if error is not None else None
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "__main__":
            found = (tb.tb_frame.f_code, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return None
    code, line = found
    where = f"line {line}" if code.co_name == "<module>" else f"{code.co_name}, line {line}"
    text = linecache.getline(code.co_filename, line).strip()
    return f"{where}: {text}" if text else where


def fail(hint: str, *details: str) -> NoReturn:
    """Raise the :class:`CheckFailed` of a check: ``hint`` on the first line, ``details`` below."""
    __tracebackhide__ = True
    raise CheckFailed("\n".join([hint, *details]))


def call(description: str, fn: Callable, *args, name: str,
         hints: Mapping[str, str] | None = None, **kwargs):
    """``fn(*args, **kwargs)``, turning the student's errors into one-line hints.

    ``NotImplementedError`` becomes :data:`NOT_IMPLEMENTED` for the function that raised
    it (``name`` if it cannot be told). Any other exception becomes a :class:`CheckFailed`
    ``"<description> raised <Type>: <message>"``, unless ``hints`` maps a fragment of its
    message to a better first line. ``description`` says what was called, e.g. ``"encode(x)"``.
    """
    __tracebackhide__ = True
    if not callable(fn):
        fail(f"{name} must be a function or a class, got {type(fn).__name__}: "
             "run the cell that defines it")
    return evidence.intercept(description, fn, args, kwargs,
                              lambda: _invoke(description, fn, args, kwargs, name, hints))


def _invoke(description: str, fn: Callable, args: tuple, kwargs: dict, name: str,
            hints: Mapping[str, str] | None):
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise CheckFailed(NOT_IMPLEMENTED.format(name=_raised_by(error) or name)) from None
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        said = f"{description} raised {type(error).__name__}" + (f": {message}" if message else "")
        hint = next((h for fragment, h in (hints or {}).items() if fragment in str(error)), None)
        raise CheckFailed(f"{hint}\n{said}" if hint else said) from error


def _raised_by(error: BaseException) -> str | None:
    """The student function whose body raised ``error``: ``"add_noise"``, ``"Model.encode"``."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    frame = tb.tb_frame
    module = str(frame.f_globals.get("__name__", ""))
    function = frame.f_code.co_name
    owner = frame.f_locals.get("self")
    if function == "_forward_unimplemented" and owner is not None:  # nn.Module without forward
        return f"{type(owner).__name__}.forward"
    if module.split(".")[0] in _LIBRARY_MODULES or function.startswith("<"):
        return None
    if owner is None or isinstance(owner, type):
        return function
    cls = type(owner).__name__
    return cls if function == "__init__" else f"{cls}.{function}"


def _name(fn, default: str) -> str:
    name = getattr(fn, "__name__", "")
    return name if name and not name.startswith("<") else default


def _tensor(value, what: str) -> torch.Tensor:
    __tracebackhide__ = True
    if isinstance(value, (int, float)):
        fail(f"{what} must return a tensor, not a Python number: do not call .item() or "
             "float() (training needs a tensor to backpropagate through)")
    if not isinstance(value, torch.Tensor):
        fail(f"{what} must return a torch.Tensor, got {type(value).__name__}")
    return value


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _close(value: float, target: float, rel: float = 1e-4) -> bool:
    return math.isclose(value, target, rel_tol=rel, abs_tol=1e-9)


def _trained_module(train: Callable[[], nn.Module], what: str) -> nn.Module:
    """Run the student's training function; it must return the trained ``what`` (a module)."""
    __tracebackhide__ = True
    name = _name(train, "the training run")
    model = call(f"{name}()", train, name=name)
    if not isinstance(model, nn.Module):
        fail(f"{name}() must return the trained {what}, got {type(model).__name__}")
    return model


def _trained_generator(train: Callable[[], nn.Module]) -> tuple[nn.Module, int]:
    """Run the student's training function; it must return a generator with an int ``latent_dim``."""
    __tracebackhide__ = True
    name = _name(train, "the training run")
    G = _trained_module(train, "generator")
    latent_dim = getattr(G, "latent_dim", None)
    if not isinstance(latent_dim, int):
        fail(f"{name}() must return the generator G (a module with a latent_dim)")
    return G, latent_dim


def _images(n: int, generator: torch.Generator) -> torch.Tensor:
    """Image-like tensors ``(n, 1, 28, 28)`` in [-1, 1], mostly dark like MNIST digits."""
    x = 0.5 * torch.randn((n, *IMAGE_SHAPE), generator=generator) - 0.6
    return x.clamp(-1.0, 1.0)


# --- shared by Units 02-04 ------------------------------------------------------------------


def _number(value, what: str) -> float:
    """``value`` as a Python float when it is one number (float, 0-d tensor or array)."""
    __tracebackhide__ = True
    if value is None:
        fail(f"{what} returned None: return the value (did you forget the return statement?)")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(f"{what} must return one number, got a tensor of shape {_shape(value)}")
        return value.item()
    if isinstance(value, (bool, np.bool_)):
        fail(f"{what} must return a number, got {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.size != 1:
            fail(f"{what} must return one number (the integral), got an array of shape "
                 f"{value.shape}: integrate over x with np.trapezoid(integrand, x)")
        return float(value.reshape(()))
    fail(f"{what} must return a number, got {type(value).__name__}")


def _same_tensors(got: list[torch.Tensor], want: list[torch.Tensor], rtol: float = 1e-4,
                  atol: float = 1e-6) -> bool:
    return all(torch.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(got, want, strict=True))


def _first_match(value: torch.Tensor, mistakes, rtol: float = 1e-4, atol: float = 1e-6) -> str | None:
    """The hint of the first ``(wrong value, hint)`` that ``value`` equals, if any."""
    for wrong, hint in mistakes:
        wrong = torch.as_tensor(wrong, dtype=value.dtype)
        if wrong.shape == value.shape and torch.isfinite(wrong).all() \
                and torch.allclose(value, wrong, rtol=rtol, atol=atol):
            return hint
    return None


def _fmt(t) -> str:
    """A short rendering of a few numbers for the detail lines of a failure."""
    values = torch.as_tensor(t).flatten().tolist()
    shown = ", ".join(f"{v:.4g}" for v in values[:6])
    return f"[{shown}{', ...' if len(values) > 6 else ''}]"


def _parameter_gradients(model: nn.Module, loss: Callable[[], torch.Tensor]
                         ) -> tuple[bool, list[str], list[str]]:
    """Backpropagate ``loss()`` into ``model``: (does it depend on the parameters, the names
    of frozen parameters, the names of parameters left without a gradient)."""
    model.zero_grad(set_to_none=True)
    value = loss()
    if not value.requires_grad:
        return False, [], []
    value.backward()
    frozen = [p for p, t in model.named_parameters() if not t.requires_grad]
    missing = [p for p, t in model.named_parameters() if t.grad is None]
    model.zero_grad(set_to_none=True)
    return True, frozen, missing
