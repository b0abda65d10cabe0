"""Trusted harness run inside the sandboxed child, before the untrusted program gets control.

Standard library only: the same file runs in the process backend's workers and inside the Docker
image. It keeps private references to everything it needs (captured at import, before any
untrusted code runs), rewrites ``assert A == B`` so that the comparison is made by a trusted
function, and writes one record per test to a private pipe, each line starting with a nonce the
worker chose. Records: ``<nonce> P <i>`` (test i passed), ``<nonce> F <i> <msg>`` (failed),
``<nonce> E <msg>`` (program or setup failed), ``<nonce> M`` (MemoryError seen), ``<nonce> D``
(done). Anything else on the pipe is ignored by the worker.
"""

from __future__ import annotations

import ast
import builtins
import os
import sys

PROGRAM_FILE = "<program>"
SETUP_FILE = "<setup>"
TEST_FILE = "<test>"

# Captured now, so that a program that monkeypatches builtins cannot change the harness' behaviour.
_write = os.write
_type = type
_isinstance = isinstance
_getattr = getattr
_len = len
_repr = repr
_str = str
_exec = exec
_compile = compile
_id = id
_BaseException = BaseException
_MemoryError = MemoryError
_bool = bool
_all = all
_enumerate = enumerate
_list, _tuple, _dict, _set, _frozenset = list, tuple, dict, set, frozenset
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), list, tuple, dict, set, frozenset, range})
_TRUSTED_DIRS = tuple({os.path.dirname(os.__file__), sys.prefix, sys.base_prefix})
_DUNDERS = ("__eq__", "__ne__", "__bool__", "__len__", "__hash__")


def _trusted_function(fn: object) -> bool:
    """True when ``fn`` is C code or Python code from the standard library / installed packages."""
    if fn is None:
        return True
    code = _getattr(fn, "__code__", None)
    if code is None:
        # slot wrappers, method descriptors, builtins: implemented in C, not by the program
        kind = _type(fn).__name__
        return kind in ("wrapper_descriptor", "method-wrapper", "builtin_function_or_method", "method_descriptor")
    filename = code.co_filename
    return _isinstance(filename, _str) and filename.startswith(_TRUSTED_DIRS)


def _trusted_value(value: object, depth: int = 0) -> bool:
    """True if comparing ``value`` cannot run code the program defined."""
    if depth > 50:
        return False
    tp = _type(value)
    if tp in _PLAIN:
        if tp in (list, tuple, set, frozenset):
            return _all(_trusted_value(v, depth + 1) for v in value)  # type: ignore[attr-defined]
        if tp is dict:
            return _all(_trusted_value(k, depth + 1) and _trusted_value(v, depth + 1) for k, v in value.items())  # type: ignore[attr-defined]
        return True
    for klass in tp.__mro__:
        for name in _DUNDERS:
            if name in klass.__dict__ and not _trusted_function(klass.__dict__[name]):
                return False
    # stdlib containers (Counter, OrderedDict, deque, namedtuple...): check their items too
    if _isinstance(value, (list, tuple, set, frozenset)):
        return _all(_trusted_value(v, depth + 1) for v in value)
    if _isinstance(value, dict):
        return _all(_trusted_value(k, depth + 1) and _trusted_value(v, depth + 1) for k, v in dict.items(value))
    return True


class UntrustedComparison(Exception):
    """A test compared a value whose equality the program itself defines."""


def trusted_eq(left: object, right: object, negate: bool = False) -> bool:
    """``left == right`` (or ``!=``), refusing values whose comparison the program could forge."""
    if not (_trusted_value(left) and _trusted_value(right)):
        raise UntrustedComparison(f"refusing to compare a {_type(left).__name__} with a {_type(right).__name__}: "
                                  "its __eq__ is defined by the program")
    result = (left != right) if negate else (left == right)
    if _type(result) is not _bool:
        # numpy arrays and the like: reduce through bool(), which for trusted types is trusted
        result = _bool(result)
    return result


class _AssertRewriter(ast.NodeTransformer):
    """``assert A == B`` -> ``assert <eq>(A, B)`` with the harness' trusted comparison."""

    def __init__(self, name: str) -> None:
        self.name = name

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if (
            _isinstance(test, ast.Compare)
            and _len(test.ops) == 1
            and _isinstance(test.ops[0], (ast.Eq, ast.NotEq))
        ):
            negate = _isinstance(test.ops[0], ast.NotEq)
            call = ast.Call(
                func=ast.Name(id=self.name, ctx=ast.Load()),
                args=[test.left, test.comparators[0], ast.Constant(negate)],
                keywords=[],
            )
            node.test = ast.copy_location(call, test)
        return node


def compile_test(source: str, eq_name: str) -> object:
    """Compile one test snippet with its equality asserts rewritten."""
    tree = ast.parse(source, TEST_FILE, "exec")
    tree = _AssertRewriter(eq_name).visit(tree)
    ast.fix_missing_locations(tree)
    return _compile(tree, TEST_FILE, "exec")


def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line, even if the exception's __str__ misbehaves."""
    try:
        text = _str(exc)
    except _BaseException:  # the program's exception class may raise from __str__
        text = "<unprintable>"
    name = _type(exc).__name__
    line = f"{name}: {text}" if text else name
    return line.replace("\n", " ")[:500]


def _any_changed(module_globals: dict, snapshot: list) -> bool:
    """True if any of the harness' module globals was rebound since ``snapshot``."""
    for name, value in snapshot:
        if module_globals.get(name, _any_changed) is not value:
            return True
    return False


def run(program: str, tests: list[str], setup: str, fd: int, nonce: str) -> None:
    """Run ``program``, then ``setup``, then each test, writing one record per test to ``fd``."""
    write = _write
    # captured before the program runs: what it rebinds afterwards is detected, not used
    eq, exec_, any_changed, base_exc, mem_err, describe = trusted_eq, _exec, _any_changed, _BaseException, _MemoryError, _describe
    module_globals = globals()
    snapshot = list(module_globals.items())

    def emit(line: str) -> None:
        write(fd, (f"{nonce} {line}\n").encode("utf-8", "replace"))

    eq_name = "__pg_eq_" + nonce[:12] + "__"
    try:
        compiled_tests = [compile_test(t, eq_name) for t in tests]
    except SyntaxError as exc:  # tests are trusted input; a broken one is the caller's error
        emit("E test syntax error: " + _describe(exc))
        emit("D")
        return
    # the program gets its own copy of the builtins, so `builtins.x = ...` in it cannot reach the harness
    namespace: dict = {"__name__": "__main__", "__builtins__": dict(builtins.__dict__)}
    try:
        _exec(_compile(program, PROGRAM_FILE, "exec"), namespace)
        if setup:
            _exec(_compile(setup, SETUP_FILE, "exec"), namespace)
    except _MemoryError:
        emit("M")
        emit("E MemoryError")
        emit("D")
        return
    except _BaseException as exc:  # SystemExit, KeyboardInterrupt and all: the program did not load
        emit("E " + _describe(exc))
        emit("D")
        return
    for i, code in _enumerate(compiled_tests):
        namespace[eq_name] = eq
        try:
            exec_(code, namespace)
        except mem_err:
            emit("M")
            emit(f"F {i} MemoryError")
            continue
        except base_exc as exc:  # any exception, SystemExit included, fails this test only
            emit(f"F {i} " + describe(exc))
            continue
        # a test that swapped the trusted comparison out from under us is not believed
        if namespace.get(eq_name) is not eq or any_changed(module_globals, snapshot):
            emit(f"F {i} TamperingDetected: the harness or its trusted comparison was replaced")
            continue
        emit(f"P {i}")
    emit("D")
