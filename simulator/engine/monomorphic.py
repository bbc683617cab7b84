"""Per-class copies of hot methods, so that CPython's attribute caches see one class at each site.

CPython (3.11+) specialises each attribute access of a function's bytecode for the class of the
object it meets there, and falls back to a generic lookup (an MRO walk and a dictionary lookup per
access) while a site keeps meeting different classes. A base-class method that runs for several
subclasses on the hot path (a queueing station's `handle` for servers, databases and caches alike)
therefore pays the generic lookup on nearly every `self.x`. Giving each subclass its own copy of
the method's code object gives each copy its own caches: the same code, the same behaviour, each
site monomorphic.
"""
from __future__ import annotations

from types import FunctionType
from typing import Callable, Iterable


def clone(fn: Callable) -> FunctionType:
    """A copy of the function `fn` with a code object of its own (and so bytecode caches of its own)."""
    new = FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    new.__module__ = fn.__module__
    new.__dict__.update(fn.__dict__)
    return new


def own_copies(cls: type, names: Iterable[str]) -> None:
    """Give `cls` its own copy of each inherited method in `names` it does not define itself
    (call from `__init_subclass__`: each subclass then runs its own copy)."""
    for name in names:
        if name in cls.__dict__:
            continue
        fn = getattr(cls, name, None)
        if isinstance(fn, FunctionType):
            setattr(cls, name, clone(fn))
