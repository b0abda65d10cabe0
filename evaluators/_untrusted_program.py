"""The untrusted side: runs inside the confined child, loads the program and serves the judge's calls.

Everything here executes in the program's own process and can be read, patched or replaced by
it: nothing in this module decides a verdict. It never sees the tests, the expected values or the
judge's state; it only answers requests over one socket (see ``_trusted_judge``), sending back
plain data (``_wire``) or handles for values that must stay here.
"""

from __future__ import annotations

import builtins
import importlib
import os
import sys
import tempfile
import types

import _wire

PROGRAM_FILE = "<program>"
# What the judge may ask of a handle besides calls and attributes, and the builtin that does it.
DUNDERS = {
    "__str__": str, "__repr__": repr, "__len__": len, "__iter__": iter, "__next__": next,
    "__reversed__": reversed, "__getitem__": lambda o, k: o[k],
    "__setitem__": lambda o, k, v: o.__setitem__(k, v), "__delitem__": lambda o, k: o.__delitem__(k),
    "__instancecheck__": lambda klass, o: isinstance(o, klass),
}


def describe(exc: BaseException) -> list[str]:
    """[type name, message] of an exception, even if its __str__ misbehaves."""
    try:
        text = str(exc)
    except BaseException:  # the program's exception class may raise from __str__
        text = "<unprintable>"
    return [type(exc).__name__, text[:500]]


class _Server:
    """Answers the judge's requests about one loaded program."""

    def __init__(self, fd: int, namespace: dict) -> None:
        self.fd, self.namespace = fd, namespace
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}

    # values out: plain data, or a handle that keeps the object here
    def _other(self, value: object) -> object:
        if type(value) is type(sys) and getattr(value, "__name__", "").split(".")[0] in sys.stdlib_module_names:
            return {"mod": value.__name__}
        key = id(value)
        if key not in self.ids:
            self.ids[key] = len(self.objects)
            self.objects[self.ids[key]] = value
        return {"h": self.ids[key]}

    def encode(self, value: object) -> object:
        return _wire.encode(value, self._other)

    # values in: plain data, our own handles, or stubs that call the judge back
    def _handle(self, kind: str, ident: object) -> object:
        if kind == "h":
            return self.objects[ident]  # type: ignore[index]
        if kind == "mod":
            return importlib.import_module(ident)  # type: ignore[arg-type]
        return self._callback(ident)

    def decode(self, raw: object) -> object:
        return _wire.decode(raw, self._handle)

    def _callback(self, ident: object):
        def judge_callable(*args, **kwargs):
            _wire.send(self.fd, {"cb": ident, "args": [self.encode(a) for a in args],
                                 "kw": {k: self.encode(v) for k, v in kwargs.items()}})
            return self._reply(self.serve_until_reply())
        return judge_callable

    def _reply(self, reply: object) -> object:
        if "exc" in reply:  # type: ignore[operator]
            name, message = reply["exc"]  # type: ignore[index]
            kind = getattr(builtins, name, None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind(message)
        return self.decode(reply["ok"])  # type: ignore[index]

    def answer(self, request: dict) -> dict:
        """Carry out one request; the reply is plain data."""
        op = request.get("op")
        try:
            if op == "names":
                found = {n: self.namespace[n] for n in request["names"] if n in self.namespace}
                return {"names": {n: self.encode(v) for n, v in found.items()}}
            if op == "stdio":
                return {"ok": run_script(self.namespace["__program__"], request["stdin"])}
            target = self.objects[request["o"]]
            if op == "getattr":
                return {"ok": self.encode(getattr(target, request["name"]))}
            if op == "setattr":
                setattr(target, request["name"], self.decode(request["v"]))
                return {"ok": None}
            args = [self.decode(a) for a in request.get("args", [])]
            if op == "call":
                kwargs = {k: self.decode(v) for k, v in request.get("kw", {}).items()}
                result = target(*args, **kwargs)  # type: ignore[operator]
                sync = {}
                for i in request.get("sync", []):  # arguments the judge wants back, if they changed
                    value, sent = (args[i], request["args"][i]) if type(i) is int else (kwargs[i], request["kw"][i])
                    after = self.encode(value)
                    if after != sent:
                        sync[str(i)] = after
                return {"ok": self.encode(result), "sync": sync}
            if op == "dunder" and request.get("m") in DUNDERS:
                return {"ok": self.encode(DUNDERS[request["m"]](target, *args))}
            return {"exc": ["TypeError", f"unsupported request {op!r}"]}
        except BaseException as exc:  # the program's exceptions travel back as data
            return {"exc": describe(exc)}

    def serve_until_reply(self) -> dict:
        """Serve requests until the judge answers a callback (or forever, at the top level)."""
        while True:
            message = _wire.recv(self.fd)
            if isinstance(message, dict) and "op" in message:
                reply = self.answer(message)
                try:
                    _wire.send(self.fd, reply)
                except (TypeError, ValueError, RecursionError) as exc:  # a value json cannot write
                    _wire.send(self.fd, {"exc": describe(exc)})
            else:
                return message  # type: ignore[return-value]


MAX_STDOUT = 16 << 20


def _fresh_main() -> dict:
    """A new, real ``__main__`` module's namespace, so what pickles by reference (multiprocessing) finds it."""
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    return main.__dict__


def run_script(code: object, stdin: str) -> str:
    """Run compiled ``code`` as ``__main__`` on ``stdin``; what it wrote to its standard output.

    The input and the output are real files on fds 0 and 1 (the run's private /tmp), so every idiom
    works: ``sys.stdin.buffer``, ``open(0)``, ``os.read(0, n)``, ``sys.stdout.buffer.write``.
    """
    saved_fds = os.dup(0), os.dup(1)
    saved_streams = sys.stdin, sys.stdout
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out:
        inp.write(stdin.encode("utf-8"))
        inp.seek(0)
        os.dup2(inp.fileno(), 0)
        os.dup2(out.fileno(), 1)
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        try:
            exec(code, _fresh_main())
        except SystemExit as exc:  # competitive programs end with exit() or sys.exit(0)
            if exc.code not in (None, 0):
                raise
        finally:
            try:
                sys.stdout.flush()
            finally:
                os.dup2(saved_fds[0], 0)
                os.dup2(saved_fds[1], 1)
                for fd in saved_fds:
                    os.close(fd)
                sys.stdin, sys.stdout = saved_streams
        size = os.fstat(out.fileno()).st_size
        if size > MAX_STDOUT:
            raise RuntimeError(f"more than {MAX_STDOUT} bytes of output")
        out.seek(0)
        return out.read().decode("utf-8", "replace")


def serve(program: str, fd: int, mode: str = "function", names: list[str] | None = None) -> None:
    """Load ``program`` as ``__main__`` (a script: only compile it) and answer the judge on ``fd``.

    The reply to the load carries the ``names`` the judge asked for with the program, sparing a round trip."""
    namespace = _fresh_main()
    try:
        code = compile(program, PROGRAM_FILE, "exec")
        if mode == "stdio":
            namespace["__program__"] = code
        else:
            exec(code, namespace)
    except MemoryError:
        _wire.send(fd, {"load": "error", "error": ["MemoryError", ""]})
        return
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and all: the program did not load
        _wire.send(fd, {"load": "error", "error": describe(exc)})
        return
    server = _Server(fd, namespace)
    hello: dict = {"load": "ok"}
    if names:
        hello.update(server.answer({"op": "names", "names": names}))
    try:
        _wire.send(fd, hello)
    except (TypeError, ValueError, RecursionError) as exc:  # a value json cannot write
        _wire.send(fd, {"load": "ok", "exc": describe(exc)})
    try:
        server.serve_until_reply()
    except EOFError:  # the judge is done
        pass
