"""The untrusted side: runs inside the confined child, loads the program and serves the judge's calls.

Everything here executes in the program's own process and can be read, patched or replaced by
it: nothing in this module decides a verdict. It never sees the tests, the expected values or the
judge's state; it only answers requests over its two pipes (see ``_trusted_judge``), sending back
plain data (``_wire``) or handles for values that must stay here.
"""

from __future__ import annotations

import builtins
import importlib
import os
import sys
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

    def __init__(self, channel: _wire.Endpoint, namespace: dict) -> None:
        self.channel, self.namespace = channel, namespace
        self.handles: dict[int, object] = {}
        self.handle_ids: dict[int, int] = {}
        self._next_handle = 0
        self.stubs: dict[int, object] = {}  # the judge's callable ident -> the function standing for it here
        self.stub_ids: dict[int, int] = {}
        self.shared = _wire.Shared(1, self._other)

    # values out: plain data, or a handle that keeps the object here
    def _other(self, value: object) -> object:
        if type(value) is type(sys) and getattr(value, "__name__", "").split(".")[0] in sys.stdlib_module_names:
            return {"mod": value.__name__}
        key = id(value)
        if key in self.stub_ids:
            return {"cb": self.stub_ids[key]}
        if key not in self.handle_ids:  # a new number, never one of an object let go
            self.handle_ids[key] = self._next_handle
            self.handles[self._next_handle] = value
            self._next_handle += 1
        return {"h": self.handle_ids[key]}

    def encode(self, value: object) -> object:
        return self.shared.encode(value)

    # values in: plain data, our own handles, or stubs that call the judge back
    def _handle(self, kind: str, ident: object) -> object:
        if kind == "h":
            return self.handles[ident]  # type: ignore[index]
        if kind == "mod":
            return importlib.import_module(ident)  # type: ignore[arg-type]
        if ident not in self.stubs:
            self.stubs[ident] = stub = self._callback(ident)  # type: ignore[index]
            self.stub_ids[id(stub)] = ident  # type: ignore[assignment]
        return self.stubs[ident]  # type: ignore[index]

    def decode(self, raw: object) -> object:
        return _wire.decode(raw, self._handle, self.shared)

    def receive(self, message: dict) -> None:
        """Take in the shared values' states a judge's message carries, and what the judge let go."""
        if "objs" in message:
            self.shared.apply(message["objs"], self._handle)
        for ident in message.get("rel", ()):
            self.shared.forget(ident)
        for ident in message.get("relh", ()):  # objects the judge no longer holds: they may go (and finalize)
            obj = self.handles.pop(ident, None)
            if obj is not None:
                self.handle_ids.pop(id(obj), None)
                del obj

    def send(self, body: dict, reply: bool = False) -> None:
        """Send ``body`` with the states the judge lacks; a reply also says which shared values the
        program no longer holds (both sides forget them)."""
        try:
            objs = self.shared.outgoing(everything=reply)
            if reply:
                drop = self.shared.not_held_by_program()
                if drop:
                    body["drop"] = drop
            if objs:
                body["objs"] = objs
            data = _wire.frame(body)
        except (TypeError, ValueError, RecursionError, _wire.WireError) as exc:  # a value json cannot write
            self.shared.discard()
            if not reply:  # a callback's arguments: the program's call of it fails
                raise
            body = {"exc": describe(exc)}
            data = _wire.frame(body)
        self.shared.drop(body.get("drop", []))
        self.channel.write(data)

    def _callback(self, ident: object):
        def judge_callable(*args, **kwargs):
            try:
                message = {"cb": ident, "args": [self.encode(a) for a in args],
                           "kw": {k: self.encode(v) for k, v in kwargs.items()}}
            except BaseException:
                self.shared.discard()
                raise
            self.send(message)
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
                return {"names": {n: self.encode(self.namespace[n]) for n in request["names"] if n in self.namespace}}
            if op == "release":  # only for what the message carried
                return {"ok": None}
            if op == "stdio":
                return {"ok": run_script(self.namespace["__program__"], request["stdin"])}
            target = self.handles[request["o"]]
            if op == "getattr":
                return {"ok": self.encode(getattr(target, request["name"]))}
            if op == "setattr":
                setattr(target, request["name"], self.decode(request["v"]))
                return {"ok": None}
            args = [self.decode(a) for a in request.get("args", [])]
            if op == "call":
                kwargs = {k: self.decode(v) for k, v in request.get("kw", {}).items()}
                return {"ok": self.encode(target(*args, **kwargs))}  # type: ignore[operator]
            if op == "dunder" and request.get("m") in DUNDERS:
                return {"ok": self.encode(DUNDERS[request["m"]](target, *args))}
            return {"exc": ["TypeError", f"unsupported request {op!r}"]}
        except BaseException as exc:  # the program's exceptions travel back as data
            self.shared.discard()
            return {"exc": describe(exc)}

    def serve_until_reply(self) -> dict:
        """Serve requests until the judge answers a callback (or forever, at the top level)."""
        while True:
            message = self.channel.recv()
            if not isinstance(message, dict):
                raise _wire.WireError("message is not an object")
            self.receive(message)
            if "op" not in message:
                return message
            self.send(self.answer(message), reply=True)


MAX_STDOUT = 16 << 20


def _fresh_main() -> dict:
    """A new, real ``__main__`` module's namespace, so what pickles by reference (multiprocessing) finds it."""
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    return main.__dict__


def _temporary_file():  # noqa: ANN202
    """An unnamed file in the run's temporary directory (without tempfile, which the zygote does not carry)."""
    where = os.environ.get("TMPDIR", "/tmp")
    try:
        return open(os.open(where, os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")
    except OSError:  # a file system without O_TMPFILE (overlayfs before Linux 6.6)
        import tempfile

        return tempfile.TemporaryFile(dir=where)


def run_script(code: object, stdin: str) -> str:
    """Run compiled ``code`` as ``__main__`` on ``stdin``; what it wrote to its standard output.

    The input and the output are real files on fds 0 and 1 (the run's private /tmp), so every idiom
    works: ``sys.stdin.buffer``, ``open(0)``, ``os.read(0, n)``, ``sys.stdout.buffer.write``.
    """
    saved_fds = os.dup(0), os.dup(1)
    saved_streams = sys.stdin, sys.stdout
    with _temporary_file() as inp, _temporary_file() as out:
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


def serve(program: str, channel: _wire.Endpoint, mode: str = "function", names: list[str] | None = None) -> None:
    """Load ``program`` as ``__main__`` (a script: only compile it) and answer the judge on ``channel``.

    The reply to the load carries the ``names`` the judge asked for with the program, sparing a round trip."""
    namespace = _fresh_main()
    try:
        code = compile(program, PROGRAM_FILE, "exec")
        if mode == "stdio":
            namespace["__program__"] = code
        else:
            exec(code, namespace)
    except MemoryError:
        channel.send({"load": "error", "error": ["MemoryError", ""]})
        return
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and all: the program did not load
        channel.send({"load": "error", "error": describe(exc)})
        return
    server = _Server(channel, namespace)
    hello: dict = {"load": "ok"}
    if names:
        hello.update(server.answer({"op": "names", "names": names}))
    server.send(hello, reply=True)
    try:
        server.serve_until_reply()
    except EOFError:  # the judge is done
        pass


_WARM_UP = '''
class Box:
    def __init__(self, items):
        self.items = items
def f(a, b=None, *rest):
    if b is not None:
        b.append(len(a))
    return [a, list(a), {"k": (a, 1.5)}, "s", None, True, 10 ** 3]
'''


def warm_up() -> None:
    """Serve a few calls over pipes in this process (the zygote), so that every run's child finds the
    protocol's code already specialised by CPython (3.11+ rewrites a function's bytecode in place as it
    runs it: in a forked child, each page so written is a copy-on-write fault)."""
    to_server, to_judge = os.pipe(), os.pipe()
    ours = _wire.Endpoint(to_judge[0], to_server[1])
    try:
        namespace: dict = {}
        exec(compile(_WARM_UP, "<warm-up>", "exec"), namespace)
        server = _Server(_wire.Endpoint(to_server[0], to_judge[1]), namespace)
        judge = _wire.Shared(-1, lambda value: {"cb": 0})
        for i in range(24):
            args, sink = [[i, "x", (i, 2.5)], []], []
            message = {"op": "call", "o": 0, "args": [judge.encode(a) for a in args], "kw": {"b": judge.encode(sink)}}
            message["objs"] = judge.outgoing()
            judge.drop(list(judge.objects))
            ours.send({"op": "names", "names": ["f", "Box"]} if i == 0 else message)
            if i == 0:
                server.handles[0] = namespace["f"]
        ours.send({"ok": None})  # not a request: the server loop returns
        server.serve_until_reply()
    finally:
        for fd in (*to_server, *to_judge):
            os.close(fd)
