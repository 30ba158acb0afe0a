"""Every reach of this package into another library's internals, in one place: each one scoped
to our own calls, written for named versions (:data:`WRITTEN_FOR`), with a stated fallback
outside them, and recorded when used (:data:`APPLIED`). Importing this module, or the package,
changes no other package.

- **Two-stage LaTeX parsing** (``latex2sympy2_extended``'s private ``_Latex2Sympy.create_parser``
  and antlr's ``parser._interp``): inside :func:`math_verify_call`, the parsers math-verify
  creates predict with SLL first and parse again with full LL only on a syntax error (the
  grammar is the same, so are the parses: a test checks a corpus). The ``accuracy`` reward is
  about twice as fast on a realistic mix with it (``bench/bench_rewards.py``). The class
  attribute is replaced when the first of our calls starts and put back when the last ends; a
  parser created by anyone else meanwhile (another thread) is made as latex2sympy makes it.
  Outside the written-for versions: no patch, parsing as latex2sympy does (same results,
  slower), and a warning when an ``accuracy`` reward is built (:func:`check_two_stage_parsing`).
- **math-verify's warnings** ("Timeout is disabled": our deadlines are the worker pool's, see
  :mod:`~trl_r1_rewards.parallel`): a :class:`logging.Filter` on math-verify's two loggers drops
  records below ERROR that are logged within our calls, added for the call only; no logger's
  level changes. (No private name: it needs no version.)
- **Loading a reward model whole under DeepSpeed ZeRO-3** (transformers' module global
  ``_hf_deepspeed_config_weak_ref``): see :func:`whole_model`. Only read when transformers'
  public ``is_deepspeed_zero3_enabled()`` says ZeRO-3 is on; outside the written-for major
  version, a clear error.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import logging
import threading
import warnings

# The releases each reach was written and tested for ("1.11.0": exactly that release; "5": any 5.x).
WRITTEN_FOR = {
    "latex2sympy2_extended": "1.11.0",  # _Latex2Sympy.create_parser
    "antlr4-python3-runtime": "4.13.2",  # parser._interp.predictionMode, PredictionMode.SLL
    "transformers": "5",  # integrations.deepspeed._hf_deepspeed_config_weak_ref
}
# What this process used, once each: {"two_stage_parsing", "whole_model_under_zero3"}.
APPLIED: set[str] = set()

_MATH_VERIFY_LOGGERS = ("math_verify.parser", "math_verify.grader")
_IN_OUR_CALL = contextvars.ContextVar("trl_r1_rewards_math_verify_call", default=False)


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def written_for(dist: str, found: str | None) -> bool:
    """Whether ``found`` (a version of ``dist``) is one :data:`WRITTEN_FOR` names.

    >>> written_for("transformers", "5.25.0"), written_for("transformers", "4.57.1"), written_for("transformers", None)
    (True, False, False)
    >>> written_for("latex2sympy2_extended", "1.11.0"), written_for("latex2sympy2_extended", "1.11.1")
    (True, False)
    """
    if found is None:
        return False
    wanted = WRITTEN_FOR[dist].split(".")
    return found.split("+")[0].split(".")[:len(wanted)] == wanted


@functools.cache
def two_stage_parsing_applies() -> str | None:
    """``None`` when two-stage parsing applies here, else why not (a sentence)."""
    for dist in ("latex2sympy2_extended", "antlr4-python3-runtime"):
        found = installed_version(dist)
        if not written_for(dist, found):
            return (f"trl_r1_rewards' two-stage LaTeX parsing (trl_r1_rewards/shims.py) was written for {dist} "
                    f"{WRITTEN_FOR[dist]}, found {found or 'none'}: parsing as latex2sympy2_extended does (same "
                    f"results, about half the accuracy reward's speed). Install {dist}=={WRITTEN_FOR[dist]} for "
                    f"the speed, or check the shim against {dist} {found} and update WRITTEN_FOR.")
    try:
        from antlr4.atn.PredictionMode import PredictionMode  # noqa: F401
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
    except ImportError as error:
        return f"trl_r1_rewards' two-stage LaTeX parsing is off: {error}"
    if not callable(_Latex2Sympy.__dict__.get("create_parser")):
        return "trl_r1_rewards' two-stage LaTeX parsing is off: _Latex2Sympy has no create_parser"
    return None


def check_two_stage_parsing() -> bool:
    """Whether two-stage parsing applies; when it does not, a warning that says why and what to
    do (once per process). The ``accuracy`` reward calls this when it is built."""
    why_not = two_stage_parsing_applies()
    if why_not is not None and "two_stage_parsing_off" not in APPLIED:
        APPLIED.add("two_stage_parsing_off")
        warnings.warn(why_not, RuntimeWarning, stacklevel=2)
    return why_not is None


class _QuietInOurCalls(logging.Filter):
    """Drops math-verify's records below ERROR that are logged within :func:`math_verify_call`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not _IN_OUR_CALL.get()


_QUIET = _QuietInOurCalls()
_lock = threading.Lock()
_active_calls = 0  # our calls running now, all threads together
_original_create_parser = None  # latex2sympy's own, while ours stands in for it


def _two_stage(create_parser):
    """``create_parser`` whose parsers, in our calls only, predict SLL first (then LL)."""
    from antlr4.atn.PredictionMode import PredictionMode

    def two_stage_create_parser(self, latex_str):
        parser = create_parser(self, latex_str)
        if not _IN_OUR_CALL.get():
            return parser
        parser._interp.predictionMode = PredictionMode.SLL
        sll_math = parser.math

        def math():
            try:
                return sll_math()
            except Exception:  # noqa: BLE001 - a syntax error under SLL: parse again as usual (LL)
                return create_parser(self, latex_str).math()

        parser.math = math
        return parser

    two_stage_create_parser.__wrapped__ = create_parser
    return two_stage_create_parser


def _first_call_starts() -> None:
    global _original_create_parser
    for name in _MATH_VERIFY_LOGGERS:
        logging.getLogger(name).addFilter(_QUIET)
    if two_stage_parsing_applies() is None:
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

        _original_create_parser = _Latex2Sympy.__dict__["create_parser"]
        _Latex2Sympy.create_parser = _two_stage(_original_create_parser)
        APPLIED.add("two_stage_parsing")


def _last_call_ends() -> None:
    global _original_create_parser
    if _original_create_parser is not None:
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

        if getattr(_Latex2Sympy.__dict__.get("create_parser"), "__wrapped__", None) is _original_create_parser:
            _Latex2Sympy.create_parser = _original_create_parser  # not if someone patched it since
        _original_create_parser = None
    for name in _MATH_VERIFY_LOGGERS:
        logging.getLogger(name).removeFilter(_QUIET)


@contextlib.contextmanager
def math_verify_call():
    """Within: one of our calls into math-verify. Its warnings below ERROR are dropped and LaTeX is
    parsed in two stages (SLL, then LL: the same parses, faster), for this call only; when the last
    of our calls ends, latex2sympy and math-verify's loggers are as they were."""
    global _active_calls
    token = _IN_OUR_CALL.set(True)
    with _lock:
        _active_calls += 1
        if _active_calls == 1:
            _first_call_starts()
    try:
        yield
    finally:
        with _lock:
            _active_calls -= 1
            if _active_calls == 0:
                _last_call_ends()
        _IN_OUR_CALL.reset(token)


@contextlib.contextmanager
def whole_model():
    """Within: ``from_pretrained`` loads the model whole, in this process, even inside a DeepSpeed
    ZeRO-3 run.

    While a trainer's ZeRO-3 configuration is alive, transformers' ``from_pretrained`` partitions a
    new model across all processes, a collective every process must join. A reward loads its model
    where its rows are (a reward routed to some tasks: on some processes only) and runs it alone:
    a 2-process rehearsal of R1's stage 4 hung at the first step of the safety reward's window.
    transformers keeps that configuration in a module global, with public ``set_``/``unset_`` but
    no public getter of the object to put back, so the global is read, only when the public
    ``is_deepspeed_zero3_enabled()`` is true, and only on the transformers it was written for.
    """
    try:
        from transformers.integrations import deepspeed
    except ImportError:
        yield
        return
    if not deepspeed.is_deepspeed_zero3_enabled():
        yield
        return
    found = installed_version("transformers")
    if not written_for("transformers", found) or not hasattr(deepspeed, "_hf_deepspeed_config_weak_ref"):
        raise RuntimeError(
            f"trl_r1_rewards loads a reward model whole under DeepSpeed ZeRO-3 by reading transformers' "
            f"integrations.deepspeed._hf_deepspeed_config_weak_ref, written for transformers {WRITTEN_FOR['transformers']}.x; "
            f"found transformers {found}. Install transformers=={WRITTEN_FOR['transformers']}.*, or check "
            f"trl_r1_rewards/shims.py against transformers {found} and update WRITTEN_FOR.")
    config = deepspeed._hf_deepspeed_config_weak_ref()
    APPLIED.add("whole_model_under_zero3")
    deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        deepspeed.set_hf_deepspeed_config(config)
