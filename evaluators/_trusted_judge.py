"""The trusted side: runs the tests in the judge's own interpreter and decides every verdict.

The judge never runs a line of the program. It holds the test source and the task's trusted setup
(MBPP's setup and imports, HumanEval's prompt helpers); the names the tests take from the program
(the entry point, program classes) are bound to proxies whose calls travel to the confined child
as plain data (``_wire``) and come back rebuilt by the judge. So ``==``, ``<``, ``abs``,
``math.isclose``, ``in`` and ``sorted`` all run on judge-made objects with the judge's own stdlib.

Rules for values that stay in the program (handles): calls, attribute reads and writes, ``len``,
iteration, indexing, ``in``, ``str``/``repr``/``int``/``float`` are forwarded and their results come
back as plain data; comparing, hashing or taking the truth value of a handle raises
:class:`UntrustedComparison` (the program's ``__eq__``/``__bool__`` are never consulted), so a test
that needs one fails. Arguments that are lists, dicts, sets or bytearrays are synced back after a
call, so tests that check in-place mutation work; judge callables passed to the program (``key=``,
lambdas) are called back on the judge's side with plain-data arguments.

stdin/stdout tasks (TACO, APPS, CodeContests): tests call ``stdio(input)``, which runs the program
as a script on that input in the child and returns what it printed, and ``same_output(got,
expected, mode)`` to compare ("exact", "tokens" or "float"); both are the judge's own.

Records written to the worker, one per line: ``P i`` / ``F i msg`` (test i passed / failed),
``E msg`` (the program or setup could not run), ``M`` (the program ran out of memory),
``X`` (the program's process ended during the run), ``D`` (done).
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import os
import re
import signal
import socket
import symtable
import sys
from typing import NoReturn

import _blind_tests
import _wire

SETUP_FILE = "<setup>"
TEST_FILE = "<test>"
_BUILTIN_NAMES = frozenset(dir(builtins))
# exceptions the program may raise that the tests may catch by their builtin type
_RAISABLE = {name: obj for name, obj in vars(builtins).items()
             if isinstance(obj, type) and issubclass(obj, Exception)}


_ITERATION_ENDS = ("StopIteration", "StopAsyncIteration")


class ProgramError(Exception):
    """An exception the program raised, of a type the judge has no builtin for."""


class UntrustedComparison(TypeError):
    """A test compared, hashed or took the truth of a value that stays in the program."""


class ProgramGone(Exception):
    """The program's process ended (or broke the protocol) during the run."""


class _Link:
    """The judge's end of the channel to the program, with its handle, callback and shared-value tables."""

    def __init__(self, channel: _wire.Endpoint) -> None:
        self.channel = channel
        self.callbacks: list[object] = []
        self.callback_ids: dict[int, int] = {}
        self.shared = _wire.Shared(-1, self._other)
        self.gone = False
        self.memory = False
        self.closing = False  # the run is judged: the proxies that go now say nothing to the program
        self.proxies: dict[int, int] = {}  # handle -> how many proxies stand for it
        self.busy = 0  # inside an exchange (or building one): a handle let go waits for the next request
        self._let_go: list[int] = []

    def _wrap(self, kind: str, ident: object) -> object:
        if kind == "mod":
            return _wire.stdlib_module(ident)  # type: ignore[arg-type]
        if kind == "cb":  # one of the judge's own callables, handed back
            if not 0 <= ident < len(self.callbacks):  # type: ignore[operator]
                raise _wire.WireError("unknown callable")
            return self.callbacks[ident]  # type: ignore[index]
        # a new proxy each time: containers compare items by identity first (`x is y` -> equal), so
        # one proxy per program object would let `[obj] == [obj]` pass without ever asking it
        self.proxies[ident] = self.proxies.get(ident, 0) + 1  # type: ignore[index]
        return Handle(self, ident)  # type: ignore[arg-type]

    def decode(self, raw: object) -> object:
        return _wire.decode(raw, self._wrap, self.shared)

    def _other(self, value: object) -> object:
        if type(value) is Handle and object.__getattribute__(value, "_link") is self:
            return {"h": object.__getattribute__(value, "_id")}
        if callable(value):
            ident = self.callback_ids.get(id(value))
            if ident is None:
                self.callbacks.append(value)  # kept: its id stays its own
                ident = self.callback_ids[id(value)] = len(self.callbacks) - 1
            return {"cb": ident}
        raise TypeError(f"cannot pass a {type(value).__name__} to the program")

    def let_go(self, ident: int) -> None:
        """A proxy of handle ``ident`` is gone: when the last one goes, the program lets go of its object,
        at once if the judge is between exchanges (its ``__del__`` runs where one interpreter would run it)."""
        left = self.proxies.get(ident, 1) - 1
        if left:
            self.proxies[ident] = left
            return
        self.proxies.pop(ident, None)
        if self.gone or self.closing:
            return
        self._let_go.append(ident)
        if not self.busy:
            self._release()

    def _release(self) -> None:
        try:
            self.request({"op": "release"})
        except BaseException:  # noqa: BLE001  # maybe in a finalizer: nothing can be raised from here
            self.gone = True

    def done(self) -> None:
        """End of an exchange (``busy`` was raised for it): the proxies gone meanwhile (a callback's
        arguments) are let go now, before the test goes on."""
        self.busy -= 1
        if not self.busy and self._let_go and not (self.gone or self.closing):
            self._release()

    def encode_all(self, values: list) -> list:
        """``values`` encoded; if one cannot be, none was (TypeError)."""
        try:
            return [self.shared.encode(v) for v in values]
        except BaseException:
            self.shared.discard()
            raise

    def _send(self, message: dict, request: bool) -> None:
        # a request carries what the tests changed in every shared value, then lets go of those the
        # tests no longer hold; a callback's answer carries what it reaches
        try:
            objs = self.shared.outgoing(everything=request)
        except BaseException:  # a test put into a shared value what cannot be passed
            self.shared.discard()
            raise
        if objs:
            message["objs"] = objs
        if request:
            released = self.shared.released()
            if released:
                message["rel"] = released
            if self._let_go:  # unless a new proxy of it came meanwhile (the program handed it back)
                let_go, self._let_go = [i for i in self._let_go if i not in self.proxies], []
                if let_go:
                    message["relh"] = let_go
        self.channel.send(message)

    def request(self, message: dict) -> dict:
        """Send one request and serve the program's callbacks until its reply comes; the reply's
        value (or names) decoded under ``"value"``."""
        if self.gone:
            raise ProgramGone("the program is no longer running")
        self.busy += 1
        try:
            self._send(message, request=True)
            while True:
                reply = self.channel.recv()
                if type(reply) is not dict:
                    raise _wire.WireError("reply is not an object")
                if "cb" in reply:
                    if "objs" in reply:
                        self.shared.apply(reply["objs"], self._wrap)
                    self._send(self._callback(reply), request=False)
                    continue
                return self._take(reply)
        except (EOFError, OSError, _wire.WireError) as exc:
            self._lost(exc)
        finally:
            self.busy -= 1  # the caller's own `done` lets go of what went meanwhile

    def _lost(self, exc: Exception) -> NoReturn:
        self.gone = True
        raise ProgramGone(f"the program stopped answering ({type(exc).__name__}: {exc})") from None

    def _take(self, reply: dict) -> dict:
        """The program's answer ending an exchange: its shared values' states applied, its value (or the
        names of the load) decoded under ``"value"``, then the shared values the program let go forgotten."""
        if "objs" in reply:
            self.shared.apply(reply["objs"], self._wrap)
        if "ok" in reply:
            reply["value"] = self.decode(reply["ok"])
        elif type(reply.get("names")) is dict:
            reply["value"] = {str(k): self.decode(v) for k, v in reply["names"].items()}
        self.shared.drop(reply.get("drop", []))
        return reply

    def welcome(self, hello: dict) -> dict:
        """The names the program's load reply carries, as the tests will see them."""
        self.busy += 1  # a proxy gone while they are built waits for the first request
        try:
            names = self._take(hello).get("value")
            if type(names) is not dict:
                raise _wire.WireError("malformed names reply")
            return names
        except _wire.WireError as exc:
            self._lost(exc)
        finally:
            self.done()

    def _callback(self, message: dict) -> dict:
        ident, args, kwargs = message.get("cb"), message.get("args"), message.get("kw")
        if type(ident) is not int or not 0 <= ident < len(self.callbacks) or type(args) is not list \
                or type(kwargs) is not dict:
            raise _wire.WireError("malformed callback")
        args, kwargs = [self.decode(a) for a in args], {str(k): self.decode(v) for k, v in kwargs.items()}
        try:
            return {"ok": self.encode_all([self.callbacks[ident](*args, **kwargs)])[0]}
        except _wire.WireError:
            raise
        except Exception as exc:
            return {"exc": [type(exc).__name__, str(exc)[:500]]}

    def result(self, reply: dict, iteration: bool = False) -> object:
        """The value of a reply, or the program's exception raised on the judge's side.

        StopIteration keeps its meaning only as the answer to ``next``: raised by a call it would
        silently end the judge's own ``map``/``filter``/``zip`` loops.
        """
        if "exc" in reply:
            exc = reply["exc"]
            if type(exc) is not list or len(exc) != 2 or not all(type(x) is str for x in exc):
                raise ProgramGone("malformed exception from the program")
            name, message = exc
            if name == "MemoryError":
                self.memory = True
                raise MemoryError(message)
            if name in _RAISABLE and (iteration or name not in _ITERATION_ENDS):
                raise _RAISABLE[name](message)
            raise ProgramError(f"{name}: {message}")
        if "value" not in reply:
            raise ProgramGone("malformed reply from the program")
        return reply["value"]


class Handle:
    """A value that stays in the program; see the module docstring for what is forwarded."""

    __slots__ = ("_link", "_id")

    def __init__(self, link: _Link, ident: int) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_id", ident)

    def __del__(self) -> None:
        object.__getattribute__(self, "_link").let_go(object.__getattribute__(self, "_id"))

    def _ask(self, message: dict, /, *args: object, **kwargs: object) -> object:
        """Send ``message`` with ``args`` and ``kwargs`` encoded (a setattr's value under "v"); the program's answer."""
        link = object.__getattribute__(self, "_link")
        message["o"] = object.__getattribute__(self, "_id")
        link.busy += 1  # from the first value encoded to the reply
        try:
            encoded = link.encode_all([*args, *kwargs.values()])
            if message["op"] == "setattr":
                message["v"] = encoded[0]
            else:
                message["args"], message["kw"] = encoded[:len(args)], dict(zip(kwargs, encoded[len(args):]))
            reply = link.request(message)
        finally:
            link.done()
        return link.result(reply, iteration=message.get("m") == "__next__")

    def __call__(self, /, *args: object, **kwargs: object) -> object:
        return self._ask({"op": "call"}, *args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return self._ask({"op": "getattr", "name": name})

    def __setattr__(self, name: str, value: object) -> None:
        self._ask({"op": "setattr", "name": name}, value)

    def _dunder(self, name: str, *args: object) -> object:
        return self._ask({"op": "dunder", "m": name}, *args)

    def __repr__(self) -> str:
        return f"<program object #{object.__getattribute__(self, '_id')}>"

    def __str__(self) -> str:
        return self._dunder("__str__")  # type: ignore[return-value]

    def __len__(self) -> int:
        return self._dunder("__len__")  # type: ignore[return-value]

    def __iter__(self) -> object:
        return self._dunder("__iter__")

    def __next__(self) -> object:
        return self._dunder("__next__")

    def __reversed__(self) -> object:
        return self._dunder("__reversed__")

    def __getitem__(self, key: object) -> object:
        return self._dunder("__getitem__", key)

    def __setitem__(self, key: object, value: object) -> None:
        self._dunder("__setitem__", key, value)

    def __delitem__(self, key: object) -> None:
        self._dunder("__delitem__", key)

    def __instancecheck__(self, instance: object) -> bool:
        return self._dunder("__instancecheck__", instance) is True

    def _refuse(self, *_: object) -> bool:
        raise UntrustedComparison("a value that stays in the program cannot be compared, hashed, tested "
                                  "for truth or membership, or converted to a number by the judge; return "
                                  "plain data (numbers, strings, lists, tuples, dicts, sets)")

    # comparisons, membership, truth and numeric conversions would be the program's own answers,
    # asked again each time (a float that changes at every read fooled HumanEval/32's trusted poly)
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __contains__ = _refuse  # type: ignore[assignment]
    __int__ = __float__ = __index__ = __complex__ = __abs__ = __neg__ = __round__ = _refuse  # type: ignore[assignment]
    __hash__ = _refuse  # type: ignore[assignment]


def same_output(got: object, expected: str, mode: str = "tokens", tol: float = 1e-6) -> bool:
    """Compare a program's output with the expected one: "exact", "tokens" (whitespace-normalised)
    or "float" (tokens; numbers equal within ``tol`` absolute or relative unless both are integers,
    which, like words, must match exactly)."""
    if type(got) is not str:
        raise TypeError(f"the program's output must be text, got {type(got).__name__}")
    if mode == "exact":
        return got == expected
    a, b = got.split(), expected.split()
    if mode == "tokens":
        return a == b
    if mode != "float":
        raise ValueError(f"unknown comparison {mode!r}: exact, tokens or float")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        # tolerance only between numbers in ASCII digits, and not when both are integers
        if not (_DECIMAL.fullmatch(x) and _DECIMAL.fullmatch(y)) or (_INTEGER.fullmatch(x) and _INTEGER.fullmatch(y)):
            return False
        fx, fy = float(x), float(y)
        if not abs(fx - fy) <= max(tol, tol * abs(fy)):
            return False
    return True


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _stdio(link: _Link, stdin: object) -> str:
    """Run the program as a script on ``stdin``; its stdout (the program's exception is raised here)."""
    if type(stdin) is not str:
        raise TypeError("stdin must be a str")
    out = link.result(link.request({"op": "stdio", "o": 0, "stdin": stdin}))
    if type(out) is not str:
        raise ProgramGone("malformed stdio reply")
    return out


_JUDGE_HELPERS = ("stdio", "same_output")


def _free_names(sources: list[tuple[str, str]]) -> set[str]:
    """Global names the trusted code reads but does not bind itself (candidates to take from the program)."""
    wanted: set[str] = set()
    bound: set[str] = set()

    def walk(table: symtable.SymbolTable, top: bool) -> None:
        for sym in table.get_symbols():
            name = sym.get_name()
            if top and (sym.is_assigned() or sym.is_imported()):
                bound.add(name)
            if sym.is_referenced() and (top or sym.is_global()) and not sym.is_declared_global():
                wanted.add(name)
        for child in table.get_children():
            walk(child, False)

    for source, filename in sources:
        walk(symtable.symtable(source, filename, "exec"), True)
    return wanted - bound


@functools.lru_cache(maxsize=4096)
def _prepare(tests: tuple[str, ...], setup: str, entry_point: str) -> tuple[list, object, frozenset[str]]:
    """Compiled tests (their assertions made blind, ``_blind_tests``) and setup, and the names they read:
    kept, since RL judges the same tasks over and over."""
    trees = [ast.parse(t, TEST_FILE) for t in tests]  # once: the names and the rewrite read the same trees
    judge_names = _blind_tests.judge_defined([setup, *trees])
    compiled = [_blind_tests.blind(t, TEST_FILE, judge_names, frozenset({entry_point}), tree)
                for t, tree in zip(tests, trees)]
    setup_code = compile(setup, SETUP_FILE, "exec")
    return compiled, setup_code, frozenset(_free_names([(setup, SETUP_FILE)] + [(t, TEST_FILE) for t in tests]))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__).replace("\n", " ")[:500]


def judge(job: dict, channel: _wire.Endpoint, write_record) -> None:
    """Run ``job``'s setup and tests against the program served on ``channel``; report through ``write_record``."""
    entry_point = job.get("entry_point") or ""
    try:
        compiled, setup_code, wanted = _prepare(tuple(job["tests"]), job.get("setup", "") or "", entry_point)
    except SyntaxError as exc:  # tests are trusted input; a broken one is the caller's error
        channel.send({"program": "", "mode": "function"})
        write_record("E test syntax error: " + _describe(exc))
        return
    # the program may supply only names that are not builtins, except the task's own entry point
    # (MBPP/126 asks for a function called `sum`): `abs` or `all` defined by it are never used
    # and a stdlib module's name the tests use without importing it (MBPP/596's `sys`) is the judge's module
    modules = {n for n in wanted if n in sys.stdlib_module_names and n != entry_point}
    stdio = "stdio" in wanted  # stdin/stdout tasks: the program is a script run once per case, never at load
    wanted = sorted(n for n in wanted - set(_JUDGE_HELPERS) - modules
                    if n not in _BUILTIN_NAMES or n == entry_point)
    # the names travel with the program and come back with its load: one round trip fewer per run
    channel.send({"program": job["program"], "mode": "stdio" if stdio else "function", "names": wanted})
    link = _Link(channel)
    try:
        try:
            hello = channel.recv()
        except (EOFError, OSError, _wire.WireError):
            write_record("X")
            return
        if type(hello) is not dict or hello.get("load") != "ok":
            error = hello.get("error") if type(hello) is dict else None
            if type(error) is list and len(error) == 2 and all(type(x) is str for x in error):
                if error[0] == "MemoryError":
                    write_record("M")
                write_record("E " + (f"{error[0]}: {error[1]}" if error[1] else error[0]).replace("\n", " ")[:500])
            else:
                write_record("E the program did not load")
            return
        if "random" in sys.modules:  # fresh for each run, as in a new process: no run learns what the last one drew
            sys.modules["random"].seed()
        assertions = _blind_tests.Assertions(stops=(MemoryError, ProgramGone))
        namespace: dict = {"__name__": "__main__", "__builtins__": builtins,
                           "stdio": lambda stdin="": _stdio(link, stdin), "same_output": same_output}
        try:
            for name in modules:
                try:
                    namespace[name] = importlib.import_module(name)
                except ImportError:  # not on this interpreter: the test's own NameError will say so
                    pass
            if wanted:
                namespace.update({k: v for k, v in link.welcome(hello).items() if k in wanted})
            exec(setup_code, namespace)
            namespace.update(assertions.helpers())
        except ProgramGone:
            write_record("X")
            return
        except MemoryError:
            write_record("M")
            write_record("E MemoryError")
            return
        except Exception as exc:  # setup that needs the program (MBPP/367's trees) fails with it
            write_record("E " + _describe(exc))
            return
        for i, code in enumerate(compiled):
            assertions.failed.clear()
            try:
                exec(code, namespace)
            except ProgramGone as exc:
                write_record(f"F {i} the program ended during this test ({exc})")
                continue
            except MemoryError:
                write_record(f"F {i} MemoryError")
                continue
            except BaseException as exc:  # SystemExit from a test included: that test fails
                write_record(f"F {i} " + _describe(assertions.failed[0] if assertions.failed else exc))
                continue
            # the first failed assertion, recorded as it happened: the test went on past it
            write_record(f"F {i} " + _describe(assertions.failed[0]) if assertions.failed else f"P {i}")
            if link.memory:
                break
        if link.memory:
            write_record("M")
        if link.gone:
            write_record("X")
    finally:
        link.closing = True  # the proxies the namespace holds go without a word to the program


class JudgeTimeout(BaseException):
    """The run's wall-clock limit passed while the judge itself was busy."""


def _on_alarm(signum: int, frame: object) -> None:
    raise JudgeTimeout


def run(job: dict, channel: _wire.Endpoint, record_fd: int) -> None:
    """Judge one job, then say done; a pure-judge loop is cut at the job's time limit.

    The records go to the worker in one write at the end, whichever way the judging ends (the
    worker waits for the judge past the time limit): one wake-up of the worker per run, not one per test."""
    records: list[str] = []

    def write_record(line: str) -> None:
        records.append(line.replace("\n", " ") + "\n")

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(job["timeout"]))
    try:
        judge(job, channel, write_record)
        write_record("D")
    except JudgeTimeout:
        pass  # the worker sees no "D" and, past its deadline, reports the timeout
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        data = "".join(records).encode("utf-8", "replace")
        while data:
            data = data[os.write(record_fd, data):]


def serve(channel: int) -> None:
    """The judge process' loop: per job, its three descriptors (the program's two pipes, records) then the job."""
    sys.setrecursionlimit(10_000)
    _wire.fix_modules()  # modules and classes a program names are those imported by now, never more
    sock = socket.socket(fileno=channel)
    while True:
        try:
            marker, fds, _, _ = socket.recv_fds(sock, 1, 3)
            if not marker or len(fds) != 3:
                return
            job = _wire.recv(channel)
        except (EOFError, OSError):
            return
        _wire.forget_peer_classes()  # nothing one run's values built is there for the next to find or time
        try:
            run(job, _wire.Endpoint(fds[0], fds[1]), fds[2])
        finally:
            for fd in fds:
                os.close(fd)
