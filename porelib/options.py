"""Options of models and training runs: one declaration gives the flag, the form field, the help and the check.

An options class is a dataclass whose fields are declared with :func:`option`, which
keeps each field's help text (and its allowed values, where there is a fixed set) in the
field's metadata. From there:

* ``python -m porelib train MODEL`` builds its flags and their ``--help``
  (:func:`porelib.runfolder.add_option_flags`), and a run's settings are turned back into
  flags (:func:`porelib.runfolder.option_flags`);
* the Train page builds its form (number inputs, select boxes with the choices, help
  tooltips);
* :func:`check_options`, called first in the class's ``__post_init__``, refuses a value of
  the wrong type or outside its choices (with a "did you mean"), so a bad value is refused
  where the options are made — in the CLI, on the Train page or in Python — before any
  process starts;
* :func:`options_class` writes the class docstring's numpydoc ``Attributes`` section
  from the same help texts.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
from dataclasses import MISSING, dataclass, field


def option(default=MISSING, help: str = "", *, choices: tuple | None = None, flag: bool = True, **kwargs):
    """A dataclass field with its help text and choices in its metadata.

    Parameters
    ----------
    default
        The default value (omit it for a required field).
    help : str
        One or two sentences: what the option does and its unit (Markdown inline code allowed).
    choices : tuple, optional
        The only values allowed (checked by :func:`check_options`, offered by the Train page).
    flag : bool
        Whether ``python -m porelib train`` offers it as a flag (``False`` for settings
        given otherwise, e.g. the run folder or derived from the data).
    **kwargs
        Passed to :func:`dataclasses.field` (e.g. ``default_factory``).
    """
    metadata = {"help": " ".join(help.split()), "choices": tuple(choices) if choices is not None else None, "flag": flag}
    return field(default=default, metadata=metadata, **kwargs)


def option_help(cls, name: str) -> str:
    """The help text of field ``name`` of options class ``cls`` (empty if it has none)."""
    found = {f.name: f for f in dataclasses.fields(cls)}.get(name)
    return found.metadata.get("help", "") if found is not None else ""


def check_options(instance) -> None:
    """Check every field of an options instance against its declared type and choices.

    ``int`` fields take integers (not bools), ``float`` fields real numbers (ints are
    converted to float), ``str`` fields strings, ``bool`` fields bools; a field with
    ``choices`` takes only those. Fields of other types (paths, tuples) are left to the
    class's own checks.

    Raises
    ------
    TypeError
        For a value of the wrong type, naming the class and field.
    ValueError
        For a value outside the field's choices, with the closest choice.
    """
    owner = type(instance).__name__
    for item in dataclasses.fields(instance):
        value = getattr(instance, item.name)
        kind = type(item.default) if item.default is not MISSING else None
        where = f"{owner}.{item.name}"
        if kind is bool and not isinstance(value, bool):
            raise TypeError(f"{where} must be True or False; got {value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
            raise TypeError(f"{where} must be an integer; got {value!r}")
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{where} must be a number; got {value!r}")
            setattr(instance, item.name, float(value))
        if kind is str and not isinstance(value, str):
            raise TypeError(f"{where} must be a string; got {value!r}")
        choices = item.metadata.get("choices")
        if choices is not None and value not in choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{where} must be one of {', '.join(map(str, choices))}; got {value!r}{hint}")


def options_class(cls=None, **dataclass_kwargs):
    """:func:`dataclasses.dataclass` plus a numpydoc ``Attributes`` section written from the fields' help.

    Use it as ``@options_class`` or ``@options_class(frozen=True)``; declare the fields
    with :func:`option` and call :func:`check_options` first in ``__post_init__``.
    """

    def wrap(klass):
        klass = dataclass(klass, **dataclass_kwargs)
        lines = []
        for item in dataclasses.fields(klass):
            if not item.metadata.get("help"):
                continue
            annotation = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", str(item.type))
            choices = item.metadata.get("choices")
            kind = "{" + ", ".join(repr(c) for c in choices) + "}" if choices else annotation
            lines += [f"{item.name} : {kind}", f"    {item.metadata['help']}"]
        if lines:
            doc = (klass.__doc__ or "").rstrip()
            klass.__doc__ = doc + "\n\nAttributes\n----------\n" + "\n".join(lines) + "\n"
        return klass

    return wrap if cls is None else wrap(cls)
