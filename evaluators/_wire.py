"""Frames and the plain-data codec shared by the judge and the program side. Standard library only.

A frame is a 4-byte big-endian length and a JSON body. Values cross as plain data: JSON scalars
stand for themselves; every other kind is a one-key object whose key names it:

    {"t": [...]} tuple   {"fs": [...]} frozenset   {"b": "hex"} bytes   {"c": [re, im]} complex
    {"r": [start, stop, step]} range   {"i": "hex"} an int too long for JSON   {"nan": [is math.nan, "bits"]}
    {"fr": [n, d]} Fraction   {"dec": "1.5"} Decimal
    {"nt": [typename, [fields], [values]]} namedtuple   {"mod": "math"} a stdlib module
    {"ty": "builtins.int"} a builtin or stdlib class   {"h": id} a value that stays in the program (a handle)
    {"cb": id} a callable that stays with the judge (the program calls it back)
    {"@": ident} a mutable value both sides hold (:class:`Shared`)

Mutable values (list, dict, set, bytearray, deque, OrderedDict, Counter, defaultdict with its
factory, UserList, UserDict, UserString) cross by reference: each gets an ident, the same on both
sides, and each side keeps its own object for it. A message carries, beside its body, ``"objs"``:
``[ident, kind, state]`` for every such value it reaches that is new to the peer or changed since
they last agreed; a state is shallow (items that are mutable are ``{"@": ident}``), so nesting
through them has no depth limit (``MAX_DEPTH`` bounds immutable nesting). The receiver builds or
updates its object in place. So aliasing (``[[0] * 3] * 3``), cycles, a returned argument (``f(a)
is a``), the same object returned twice, and a value changed after it was returned behave as in
one interpreter. A request also carries ``"rel"`` (shared values the judge let go) and ``"relh"``
(program objects it let go); a reply, ``"drop"`` (shared values the program does not hold).

``decode`` builds only objects of those exact builtin and standard-library types from checked
parts, so a value decoded by the judge never runs code the program wrote.
"""

from __future__ import annotations

import array
import collections
import decimal
import fractions
import importlib
import itertools
import json
import keyword
import marshal
import math
import os
import struct
import sys
import types

MAX_FRAME = 64 << 20  # bytes: a program cannot make the judge buffer more than this per message
MAX_DEPTH = 100


class WireError(Exception):
    """A frame or value that breaks the protocol (from a broken or hostile peer)."""


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps would build an encoder per frame


def frame(obj: object) -> bytes:
    """One frame's bytes: a 4-byte length, then the JSON text."""
    body = _ENCODE(obj).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(body)) + body


def write(fd: int, data: bytes) -> None:
    """Write a frame's bytes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_some(fd: int, n: int) -> bytes:
    chunk = os.read(fd, n)
    if not chunk:
        raise EOFError("the peer closed the channel")
    return chunk


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunks.append(_read_some(fd, min(left, 1 << 20)))
        left -= len(chunks[-1])
    return b"".join(chunks)


def _size(header: bytes) -> int:
    (size,) = struct.unpack_from(">I", header)
    if size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    return size


def _parse(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as exc:  # ValueError covers JSON and int-size errors
        raise WireError(f"malformed frame: {type(exc).__name__}") from None


def recv(fd: int) -> object:
    """Read one frame, and not a byte more (the socket may carry descriptors after it); EOFError when the
    peer is gone, WireError when the frame is malformed."""
    return _parse(_read_exact(fd, _size(_read_exact(fd, 4))))


class Endpoint:
    """One end of the judge's channel to the program: frames read from ``rfd`` and written to ``wfd``
    (two pipes: a round trip costs half what a unix socket's does). A frame that arrived whole is one
    read: what is read past it waits for the next ``recv``."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self._buffer = b""

    def recv(self) -> object:
        """Read one frame; EOFError when the peer is gone, WireError when the frame is malformed."""
        data = self._buffer
        while len(data) < 4:
            data += _read_some(self.rfd, 1 << 16)
        end = 4 + _size(data)
        if len(data) < end:
            data += _read_exact(self.rfd, end - len(data))
        self._buffer = data[end:]
        return _parse(data[4:end])

    def send(self, obj: object) -> None:
        """Write one frame."""
        write(self.wfd, frame(obj))

    def write(self, data: bytes) -> None:
        """Write a frame's bytes (``frame``)."""
        write(self.wfd, data)


# -- encoding (both sides) -----------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, str)
_BIG_INT_BITS = 14_000  # about 4,200 digits: JSON writes ints in decimal, which Python caps at 4,300
# mutable kinds: they cross by reference (Shared); a state is the shallow content
_MUTABLE = {list: "l", dict: "d", set: "s", bytearray: "ba", collections.OrderedDict: "od",
            collections.Counter: "ctr", collections.defaultdict: "dd", collections.UserDict: "ud",
            collections.deque: "dq", collections.UserList: "ul", collections.UserString: "us"}


def encode(value: object, peer: "Shared", depth: int = 0) -> object:
    """Plain data for ``value``; ``peer`` shares what is mutable and encodes what is not plain data."""
    tp = type(value)
    if tp is float and value != value:
        # a NaN keeps whether it is math.nan (containers compare items by identity first: `[x] == [math.nan]`
        # holds in one interpreter when x is math.nan) and its bits; any other NaN arrives as a new object
        return {"nan": [value is math.nan, struct.pack(">d", value).hex()]}
    if tp in _SCALARS:
        if tp is int and value.bit_length() > _BIG_INT_BITS:
            return {"i": hex(value)}
        return value
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    d = depth + 1
    if tp in _MUTABLE:
        return peer.ref(value, d)
    if tp is tuple:
        peer.enter(value)
        try:
            return {"t": [encode(v, peer, d) for v in value]}
        finally:
            peer.leave()
    if tp is frozenset:
        return {"fs": [encode(v, peer, d) for v in value]}
    if tp is bytes:
        return {"b": value.hex()}
    if tp is complex:
        return {"c": [encode(value.real, peer), encode(value.imag, peer)]}
    if tp is range:
        return {"r": [value.start, value.stop, value.step]}
    if tp is fractions.Fraction:
        return {"fr": [encode(value.numerator, peer), encode(value.denominator, peer)]}
    if tp is decimal.Decimal:
        return {"dec": str(value)}
    if isinstance(value, type) and _stdlib_class(value):
        return {"ty": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, tuple) and tp.__bases__ == (tuple,) and isinstance(getattr(tp, "_fields", None), tuple):
        peer.enter(value)
        try:
            return {"nt": [tp.__name__, list(tp._fields), [encode(v, peer, d) for v in value]]}
        finally:
            peer.leave()
    return peer.other(value)


def _state(value: object, peer: "Shared", depth: int) -> object:
    """The shallow content of a mutable value: its items encoded, the mutable ones as references."""
    tp = type(value)
    if tp is bytearray:
        return value.hex()
    if tp is collections.UserString:
        return str(value.data)
    if tp is collections.deque:
        return [[encode(v, peer, depth) for v in value], value.maxlen]
    if tp in (list, set):
        return [encode(v, peer, depth) for v in value]
    if tp is collections.UserList:
        return [encode(v, peer, depth) for v in value.data]
    pairs = [[encode(k, peer, depth), encode(v, peer, depth)] for k, v in value.items()]
    if tp is collections.defaultdict:
        return [encode(value.default_factory, peer, depth), pairs]
    return pairs


class Shared:
    """The mutable values one side holds in common with its peer, each under an ident both use.

    ``step`` is +1 on the program's side and -1 on the judge's (the two never draw the same ident);
    ``other(value)`` encodes what is not plain data (handles, callbacks). Between two exchanges a
    side keeps only the values the program still holds (:meth:`not_held_by_program` on the program's
    side, :meth:`drop` on both) and the judge still holds (:meth:`released`).
    """

    def __init__(self, step: int, other) -> None:  # noqa: ANN001
        self.step, self.other = step, other
        self._next = step
        self.objects: dict[int, object] = {}  # ident -> this side's object
        self.idents: dict[int, int] = {}  # id(object) -> ident
        self.synced: dict[int, object] = {}  # ident -> the state both sides last agreed on
        self._out: list[list] = []  # states to send with the next message
        self._visited: set[int] = set()  # idents whose state this message already checked
        self._fresh: list[int] = []  # idents this message drew
        self._queue: list[tuple[int, object]] = []  # values met whose state is still to be worked out
        self._tuples = 0  # tuples being encoded around the current item
        self._inner = 0  # references to shared values from shared values, met this message
        self._via_tuple = False  # whether a shared value was met inside a tuple this message
        self._counted = (0, False, True)  # the two above for the last message sent, and whether it was quiet
        self._prints: dict[int, bytes] = {}  # ident -> marshal print of a large value (see _remember)
        self._requests = 0
        self._table_print: bytes | None = None  # of all the values, when there are many (see outgoing)
        self._arrived = False  # whether the peer sent a value new to this side since the last reply

    def ref(self, value: object, depth: int) -> dict:
        """``{"@": ident}`` for a mutable value; its state joins the message if the peer lacks it."""
        key = id(value)
        ident = self.idents.get(key)
        if ident is None:
            ident = self._next
            self._next += self.step
            self.idents[key], self.objects[ident] = ident, value
            self._fresh.append(ident)
            self._table_print = None
        if self._tuples:
            self._via_tuple = True
        elif depth > 1:  # an item of a shared value (depth 1 is a message's own value)
            self._inner += 1
        if ident not in self._visited:
            self._visited.add(ident)
            self._queue.append((ident, value))  # its state comes later: nesting costs no recursion
        return {"@": ident}

    def _states(self) -> None:
        """Work out the states of the values met so far that the peer lacks (which may meet more)."""
        queue = self._queue
        while queue:
            ident, value = queue.pop()
            if ident in self._prints and _print(value) == self._prints[ident]:
                continue  # a large value, all of it as agreed: not encoded again
            state = _state(value, self, 1)
            old = self.synced.get(ident, _NOTHING)
            # marshal tells 1, 1.0 and True apart, which == does not
            if old is _NOTHING or state != old or marshal.dumps(state, 2) != marshal.dumps(old, 2):
                self._out.append([ident, _MUTABLE[type(value)], state, value])
            elif ident in self._prints:  # printed otherwise (an equal item in place of another), as agreed
                self._remember(ident, value)

    def enter(self, container: object) -> None:
        """``encode`` is inside a tuple (a container the program may hold on its own)."""
        self._tuples += 1

    def leave(self) -> None:
        self._tuples -= 1

    def encode(self, value: object) -> object:
        """Plain data for ``value``; the states it needs join the next message (``outgoing``)."""
        return encode(value, self)

    def outgoing(self, everything: bool = False) -> list[list]:
        """The states the next message carries: of what it reaches, or (``everything``) of all held values."""
        table = everything and len(self.objects) > _LARGE
        if table and self._table_print is not None and self._print_table() == self._table_print:
            # many values held over calls, all as when last agreed (a new one forgets the print): none
            # is checked again
            everything = False
            self._queue.clear()
        if everything:
            for ident in list(self.objects):
                obj = self.objects.get(ident)
                if obj is not None:
                    self.ref(obj, 1)
        self._states()
        out, self._out = self._out, []
        self._visited.clear()
        quiet = not out and not self._fresh and not self._arrived  # nothing new and nothing changed
        if everything:
            self._arrived = False
        self._fresh.clear()
        self._counted, self._inner, self._via_tuple = (self._inner, self._via_tuple, quiet), 0, False
        for entry in out:
            ident, value = entry[0], entry.pop()
            self.synced[ident] = entry[2]
            self._remember(ident, value)
        if table and everything:
            self._table_print = self._print_table()
        return out

    def _print_table(self) -> bytes | None:
        # marshal's back-references tell which shared value sits where; the ids of every item tell what
        # marshal writes alike (a bytearray and equal bytes)
        values = list(self.objects.values())
        try:
            return (marshal.dumps(values) + array.array("Q", map(id, itertools.chain.from_iterable(
                [v if type(v) is list else _view(v) for v in values]))).tobytes())
        except (ValueError, TypeError):
            return None

    def _remember(self, ident: int, value: object) -> None:
        # a large value's marshal print, taken when both sides agree on it: while it prints the same
        # it is the same, so a value kept over many calls is not encoded at each one
        fingerprint = _print(value) if len(value) > _LARGE else None  # type: ignore[arg-type]
        if fingerprint is None:
            self._prints.pop(ident, None)
        else:
            self._prints[ident] = fingerprint

    def discard(self) -> None:
        """Drop what a message that could not be sent had collected (the peer keeps its old states)."""
        self._out, self._queue = [], []
        self._visited.clear()
        for ident in self._fresh:
            self.forget(ident)
        self._fresh.clear()
        self._inner, self._via_tuple = 0, False

    def apply(self, objs: object, handle) -> None:  # noqa: ANN001
        """Build or update in place the values a peer's message carries (before decoding its body)."""
        _check(type(objs) is list, "objs")
        self._table_print = None
        entries = []
        for entry in objs:  # type: ignore[union-attr]
            _check(type(entry) is list and len(entry) == 3 and type(entry[0]) is int and entry[1] in _EMPTY, "obj")
            ident, kind, state = entry
            obj = self.objects.get(ident)
            if obj is None:
                _check(ident * self.step < 0, "unknown reference")  # only the peer makes new ones
                obj = _EMPTY[kind](state)
                self.objects[ident], self.idents[id(obj)] = obj, ident
                self._arrived = True
            _check(_MUTABLE[type(obj)] == kind, "a value changed its kind")
            entries.append((obj, ident, kind, state))
        for obj, ident, kind, state in entries:
            _fill(obj, kind, state, handle, self)
            # what this side would send for it, so that only real changes go back (a set's order is its own)
            self.synced[ident] = _state(obj, self, 1) if kind == "s" else state  # items of a set: never shared
        for obj, ident, _, _ in entries:  # once every one is filled: a print covers what a value holds
            self._remember(ident, obj)

    def drop(self, idents: object) -> None:
        """Forget ``idents`` (the values of the exchange the program does not hold)."""
        _check(type(idents) is list and all(type(i) is int for i in idents), "drop")
        for ident in idents:  # type: ignore[union-attr]
            self.forget(ident)

    def forget(self, ident: int) -> None:
        obj = self.objects.pop(ident, None)
        if obj is not None:
            self._table_print = None
            del self.idents[id(obj)]
            self.synced.pop(ident, None)
            self._prints.pop(ident, None)

    def released(self) -> list[int]:
        """Forget the values nobody on this side holds any more; their idents (the judge's side).

        With many values held, every 64th request only: letting go late costs nothing but checks."""
        self._requests += 1
        if len(self.objects) > 1024 and self._requests % 64:
            return []
        gone: list[int] = []
        while True:
            before = len(gone)
            for ident in list(self.objects):
                obj = self.objects[ident]
                if sys.getrefcount(obj) <= 3:  # this table, `obj`, the call's argument
                    del obj
                    self.forget(ident)
                    gone.append(ident)
            if len(gone) == before:
                return gone

    def not_held_by_program(self) -> list[int]:
        """The idents of the values the program no longer holds, which both sides forget (the program's
        side, once its reply's states are computed with ``outgoing(everything=True)``).

        Counts references: a value is held if something besides this table and the other shared
        values refers to it (a global, an object's attribute, a closure, a tuple the program keeps),
        or if it is inside one that is."""
        inner, via_tuple, quiet = self._counted
        if quiet or not self.objects:  # quiet: all were held at the last reply, nothing changed since
            return []
        # each shared value: this table, the generator's variable and getrefcount's argument, plus
        # one per slot of a shared value that holds it; if that is all, the program holds none
        if not via_tuple and sum(sys.getrefcount(obj) - 3 for obj in self.objects.values()) == inner:
            return list(self.objects)
        nodes, children, indegree = _containers(self.objects)
        # references besides `nodes` (and getrefcount's argument), this table and the containers found
        roots = [key for key in list(nodes)
                 if sys.getrefcount(nodes[key]) > 2 + (key in self.idents) + indegree.get(key, 0)]
        held, todo = set(roots), list(roots)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in held:
                    held.add(child)
                    todo.append(child)
        return [ident for key, ident in self.idents.items() if key not in held]


def _containers(objects: dict[int, object]) -> tuple[dict[int, object], dict[int, list[int]], dict[int, int]]:
    """The shared values and the tuples inside them: by id, with who refers to whom, and how often."""
    nodes = {id(obj): obj for obj in objects.values()}
    children: dict[int, list[int]] = {}
    indegree: dict[int, int] = {}
    todo = list(nodes)
    while todo:
        parent = todo.pop()
        for key in _container_items(nodes[parent], nodes):
            children.setdefault(parent, []).append(key)
            indegree[key] = indegree.get(key, 0) + 1
            if key not in children:
                todo.append(key)
                children[key] = children.get(key, [])
    return nodes, children, indegree


def _container_items(container: object, nodes: dict[int, object]) -> list[int]:
    """The ids of the shared values and tuples ``container`` refers to, added to ``nodes``."""
    found = []
    for item in _view(container):  # type: ignore[attr-defined]
        if type(item) in _MUTABLE or isinstance(item, tuple):
            nodes.setdefault(id(item), item)
            found.append(id(item))
    return found


_DICTS = (dict, collections.OrderedDict, collections.Counter, collections.defaultdict)
_LARGE = 64  # items: from this size on, a value kept over calls is checked by its print first


def _view(value: object) -> object:
    """What iterates over the items of a container that may hold shared values (none for a set,
    bytearray or UserString, whose items never are)."""
    tp = type(value)
    if tp in _DICTS or tp is collections.UserDict:
        return value.values()  # type: ignore[union-attr]
    return value if tp in (list, collections.deque, collections.UserList) or isinstance(value, tuple) else ()


def _print(value: object) -> bytes | None:
    """marshal's bytes for ``value`` (they tell apart 1, 1.0 and True, -0.0 and 0.0, and which items are
    the same object) and the ids of its items (marshal writes two equal rows swapped, or a bytearray and
    equal bytes, alike; a shared item is kept alive by the table, so its id is its own), or None where
    marshal cannot write it (a handle inside: then it is encoded)."""
    try:
        return marshal.dumps(value) + array.array("Q", map(id, _view(value))).tobytes()  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


_NOTHING = object()


def _empty_deque(state: object) -> object:
    _check(type(state) is list and len(state) == 2 and type(state[0]) is list
           and (state[1] is None or (type(state[1]) is int and state[1] >= 0)), "deque")
    return collections.deque((), state[1])  # type: ignore[index]


_EMPTY = {"l": lambda s: [], "d": lambda s: {}, "s": lambda s: set(), "ba": lambda s: bytearray(),
          "od": lambda s: collections.OrderedDict(), "ctr": lambda s: collections.Counter(),
          "dd": lambda s: collections.defaultdict(None), "ud": lambda s: collections.UserDict(),
          "dq": _empty_deque, "ul": lambda s: collections.UserList(), "us": lambda s: collections.UserString("")}


def _fill(obj: object, kind: str, state: object, handle, shared: Shared) -> None:  # noqa: ANN001
    """Make ``obj`` hold ``state`` (in place: whoever refers to it sees the change)."""
    try:
        if kind == "ba":
            _check(type(state) is str, "bytearray")
            obj[:] = bytes.fromhex(state)  # type: ignore[index]
        elif kind == "us":
            _check(type(state) is str, "UserString")
            obj.data = state  # type: ignore[union-attr]
        elif kind == "dq":
            _check(type(state) is list and len(state) == 2 and type(state[0]) is list and state[1] == obj.maxlen,
                   "deque")
            items = [decode(v, handle, shared, 1) for v in state[0]]  # type: ignore[index]
            obj.clear()  # type: ignore[union-attr]
            obj.extend(items)  # type: ignore[union-attr]
        elif kind in ("l", "s", "ul"):
            _check(type(state) is list, kind)
            items = [decode(v, handle, shared, 1) for v in state]  # type: ignore[union-attr]
            if kind == "s":
                obj.clear()  # type: ignore[union-attr]
                obj.update(items)  # type: ignore[union-attr]
            else:
                (obj.data if kind == "ul" else obj)[:] = items  # type: ignore[union-attr,index]
        else:
            if kind == "dd":
                _check(type(state) is list and len(state) == 2, "defaultdict")
                factory, state = decode(state[0], handle, shared, 1), state[1]  # type: ignore[index]
                _check(factory is None or callable(factory), "defaultdict factory")
                obj.default_factory = factory  # type: ignore[union-attr]
            pairs = _pairs(state, handle, shared, 1)
            target = obj.data if kind == "ud" else obj  # type: ignore[union-attr]
            target.clear()  # type: ignore[union-attr]
            for k, v in pairs:  # item by item: Counter.update would add, OrderedDict keeps its own order
                target[k] = v  # type: ignore[index]
    except (TypeError, ValueError):  # unhashable keys or members, odd hex
        raise WireError(f"malformed value: {kind}") from None


# stdlib modules whose import does something (opens a browser, prints, runs a CLI or a GUI)
_IMPORT_HAS_EFFECTS = frozenset({"antigravity", "this", "idlelib", "turtledemo", "turtle", "tkinter", "pydoc",
                                 "webbrowser", "ensurepip", "venv", "lib2to3", "test"})


_fixed_modules: frozenset[str] | None = None  # see fix_modules


def fix_modules() -> None:
    """From now on a peer's values never make this process import: a module not imported so far
    arrives as an empty stand-in of that name (and a class of it as an empty class), made anew each time.

    For the judge, which outlives runs: an import a program's value caused would be a bit that a later
    run could read back by timing the judge (found by a blind red team: 64 of 64 bits carried).
    """
    global _fixed_modules
    _fixed_modules = frozenset(sys.modules)


def forget_peer_classes() -> None:
    """Drop the namedtuple classes built for a peer's values (the judge: at each run's start)."""
    _namedtuples.clear()


def stdlib_module(name: str) -> object:
    """The standard-library module ``name`` (imported if need be), or None if it is not one a peer may name."""
    parts = name.split(".")
    if (parts[0] not in sys.stdlib_module_names or parts[0] in _IMPORT_HAS_EFFECTS
            or any(p.startswith("__") or not p.isidentifier() for p in parts)):
        return None
    if _fixed_modules is not None:
        return sys.modules[name] if name in _fixed_modules else types.ModuleType(name)
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a module that fails on this interpreter
        return None


def _stdlib_class(klass: type) -> bool:
    module = sys.modules.get(klass.__module__)
    return (klass.__module__.split(".")[0] in sys.stdlib_module_names and "." not in klass.__qualname__
            and getattr(module, klass.__qualname__, None) is klass)


# -- decoding (the judge's side trusts only what this builds) ------------------------------------
def _check(cond: bool, what: str) -> None:
    if not cond:
        raise WireError(f"malformed value: {what}")


def _pairs(raw: object, handle: object, shared: Shared, depth: int) -> list[tuple[object, object]]:
    _check(type(raw) is list and all(type(p) is list and len(p) == 2 for p in raw), "pairs")
    return [(decode(k, handle, shared, depth), decode(v, handle, shared, depth)) for k, v in raw]  # type: ignore[misc]


_namedtuples: dict[tuple[str, tuple[str, ...]], type] = {}


def _namedtuple(name: object, fields: object) -> type:
    _check(type(name) is str and name.isidentifier() and not keyword.iskeyword(name), "namedtuple name")
    _check(type(fields) is list and all(type(f) is str and f.isidentifier() and not keyword.iskeyword(f)
                                        and not f.startswith("_") for f in fields)
           and len(set(fields)) == len(fields), "namedtuple fields")
    key = (name, tuple(fields))  # type: ignore[arg-type]
    if key not in _namedtuples:
        _namedtuples[key] = collections.namedtuple(name, fields)  # type: ignore[arg-type]
    return _namedtuples[key]


def decode(raw: object, handle: object, shared: Shared, depth: int = 0) -> object:
    """Rebuild a value from plain data (after ``shared.apply`` of its message's states); ``handle(kind,
    ident)`` makes the proxies for "h", "cb" and "mod"."""
    tp = type(raw)
    if tp in _SCALARS:
        return raw
    _check(depth <= MAX_DEPTH, "nesting too deep")
    d = depth + 1
    _check(tp is dict and len(raw) == 1, "unknown shape")  # type: ignore[arg-type]
    ((kind, body),) = raw.items()  # type: ignore[union-attr]
    if kind == "@":
        _check(type(body) is int and body in shared.objects, "unknown reference")
        return shared.objects[body]  # type: ignore[index]
    if kind in ("t", "fs"):
        _check(type(body) is list, kind)
        items = [decode(v, handle, shared, d) for v in body]
        try:
            return tuple(items) if kind == "t" else frozenset(items)
        except TypeError:  # unhashable members
            raise WireError("malformed value: unhashable frozenset member") from None
    if kind == "i":
        _check(type(body) is str and len(body) < MAX_FRAME, "int")
        try:
            return int(body, 16)
        except ValueError:
            raise WireError("malformed value: int") from None
    if kind == "nan":
        _check(type(body) is list and len(body) == 2 and type(body[0]) is bool and type(body[1]) is str
               and len(body[1]) == 16, kind)
        try:
            (value,) = struct.unpack(">d", bytes.fromhex(body[1]))
        except ValueError:
            raise WireError("malformed value: nan") from None
        _check(value != value, kind)
        return math.nan if body[0] else value
    if kind == "b":
        _check(type(body) is str, kind)
        try:
            return bytes.fromhex(body)
        except ValueError:
            raise WireError("malformed value: hex") from None
    if kind == "c":
        _check(type(body) is list and len(body) == 2, "complex")
        parts = [decode(x, handle, shared, d) for x in body]
        _check(all(type(x) is float for x in parts), "complex")
        return complex(*parts)
    if kind == "r":
        _check(type(body) is list and len(body) == 3 and all(type(x) is int for x in body) and body[2] != 0, "range")
        return range(*body)
    if kind == "fr":
        _check(type(body) is list and len(body) == 2, "Fraction")
        n, m = decode(body[0], handle, shared, d), decode(body[1], handle, shared, d)
        _check(type(n) is int and type(m) is int and m > 0, "Fraction")
        return fractions.Fraction(n, m)
    if kind == "dec":
        _check(type(body) is str and len(body) < 10_000, "Decimal")
        try:
            return decimal.Decimal(body)
        except decimal.InvalidOperation:
            raise WireError("malformed value: Decimal") from None
    if kind == "nt":
        _check(type(body) is list and len(body) == 3 and type(body[2]) is list, "namedtuple")
        klass = _namedtuple(body[0], body[1])
        values = [decode(v, handle, shared, d) for v in body[2]]
        _check(len(values) == len(body[1]), "namedtuple arity")
        return klass(*values)
    if kind == "ty":
        _check(type(body) is str and "." in body, "class")
        module, _, name = body.rpartition(".")
        owner = stdlib_module(module)
        if owner is not None and owner is not sys.modules.get(module) and name.isidentifier():
            return type(name, (), {"__module__": module})  # the stand-in's class (see fix_modules)
        klass = getattr(owner, name, None)
        _check(isinstance(klass, type), "class")
        return klass
    if kind == "mod":
        _check(type(body) is str and stdlib_module(body) is not None, "module")
    elif kind in ("h", "cb"):
        _check(type(body) is int, kind)
    else:
        raise WireError(f"malformed value: unknown kind {kind!r}")
    return handle(kind, body)  # type: ignore[operator]
