"""Tests rewritten so that a run cannot tell, from what it is asked, whether its answers were right.

A test that stops at its first failed assertion tells the program which answer was wrong: the calls
after it never come. So does any part of an assertion that is skipped because an earlier part came
out one way: ``and``, chained comparisons, ``x if c else y``, ``all(...)``, ``next(...)``, or an
exception that a comparison raises only when the answer's first items were right (a list ending in a
value that cannot be compared). A run that can carry a few bits to a later run (host-wide kernel
state; see the threat model) could then learn, over several runs, which of its guesses a test accepts.

So the judge runs a rewritten copy of each test (the caller's source is never changed). In an
``assert``, every part is evaluated, each exception held as a value (a *poison*) in place of the
part's result, and Python's answer is then worked out from those results:

* a failed ``assert`` is recorded and the test goes on; the test fails at its end with the first
  failure, and the message Python would have given;
* the message is evaluated, and made text, whether the assertion holds or not;
* operations (calls, comparisons, arithmetic, indexing, attributes, displays) never raise: an
  operand that is a poison makes the result that poison, and an operation that raises gives a new one;
* ``and``, ``or``, chained comparisons and ``x if c else y`` evaluate every operand, then give
  Python's answer (or the exception Python would have raised first);
* comprehensions evaluate their element and conditions for every item (up to ``PREFETCH`` items for a
  generator, the rest as Python would); ``all``/``any`` consume their whole iterable, up to ``PREFETCH``.

Left as Python runs them: asserts inside ``try``/``with`` (the test may catch them on purpose) and
class bodies; control flow the test writes itself (``if``, ``break``) and functions it defines;
comprehensions with several ``for`` clauses, starred arguments, f-strings and extended slices (each run
as one part); an assertion whose rewrite would not compile. A call whose arguments are themselves a
failed part is not made.
"""

from __future__ import annotations

import ast
import operator

PREFETCH = 10_000
"""Items a generator or ``all``/``any`` consumes ahead; past it (an endless generator), Python's own way."""

CHECK = "_pg_check"
"""The rewritten ``assert``: ``CHECK(value, message)``."""

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.MatMult: "matmul", ast.Div: "truediv",
           ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow", ast.LShift: "lshift", ast.RShift: "rshift",
           ast.BitOr: "or_", ast.BitXor: "xor", ast.BitAnd: "and_"}
_UNARY = {ast.Not: "not_", ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert"}
_COMPARE = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
            ast.Is: "is_", ast.IsNot: "is_not", ast.In: "in", ast.NotIn: "not_in"}
_OPERATORS = {**{name: getattr(operator, name) for name in list(_BINARY.values()) + list(_UNARY.values())},
              "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
              "ge": operator.ge, "is_": operator.is_, "is_not": operator.is_not,
              "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b}


def _helper(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(f"_pg_{name}", ast.Load()), list(args), [])


def _thunk(expr: ast.expr) -> ast.Lambda:
    return ast.Lambda(ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                                    kwarg=None, defaults=[]), expr)


class _Uniform:
    """One assertion's expression rewritten so that every part is evaluated (see the module docstring)."""

    def __init__(self, shadowed: frozenset[str]) -> None:
        self.shadowed = shadowed

    def expr(self, node: ast.expr) -> ast.expr:
        handler = getattr(self, "_" + type(node).__name__, None)
        if handler is not None:
            return handler(node)
        if isinstance(node, (ast.Constant, ast.Name, ast.Lambda)):
            return node  # a lambda's body runs when something calls it, not as part of the assertion
        return _helper("part", _thunk(node))  # run as one part, its own way

    def _BinOp(self, node: ast.BinOp) -> ast.expr:
        return _helper("op", ast.Constant(_BINARY[type(node.op)]), self.expr(node.left), self.expr(node.right))

    def _UnaryOp(self, node: ast.UnaryOp) -> ast.expr:
        return _helper("op", ast.Constant(_UNARY[type(node.op)]), self.expr(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> ast.expr:
        return _helper("and" if isinstance(node.op, ast.And) else "or", *map(self.expr, node.values))

    def _Compare(self, node: ast.Compare) -> ast.expr:
        ops = ast.Tuple([ast.Constant(_COMPARE[type(op)]) for op in node.ops], ast.Load())
        return _helper("compare", ops, self.expr(node.left), *map(self.expr, node.comparators))

    def _IfExp(self, node: ast.IfExp) -> ast.expr:
        return _helper("if", self.expr(node.test), self.expr(node.body), self.expr(node.orelse))

    def _NamedExpr(self, node: ast.NamedExpr) -> ast.expr:
        return ast.NamedExpr(node.target, self.expr(node.value))  # binds where Python binds it

    def _Call(self, node: ast.Call) -> ast.expr:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return _helper("part", _thunk(node))
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("all", "any") and func.id not in self.shadowed:
            func = ast.Name(f"_pg_{func.id}", ast.Load())
        keywords = ast.Dict([ast.Constant(k.arg) for k in node.keywords], [self.expr(k.value) for k in node.keywords])
        return _helper("call", self.expr(func), ast.Tuple([self.expr(a) for a in node.args], ast.Load()), keywords)

    def _Attribute(self, node: ast.Attribute) -> ast.expr:
        return _helper("attr", self.expr(node.value), ast.Constant(node.attr))

    def _Subscript(self, node: ast.Subscript) -> ast.expr:
        key = node.slice
        if isinstance(key, ast.Tuple) and any(isinstance(e, ast.Slice) for e in key.elts):
            return _helper("part", _thunk(node))  # x[1:2, 3]: a slice is no expression of its own
        if isinstance(key, ast.Slice):
            key = _helper("slice", *[self.expr(p) if p is not None else ast.Constant(None)
                                     for p in (key.lower, key.upper, key.step)])
        else:
            key = self.expr(key)
        return _helper("item", self.expr(node.value), key)

    def _display(self, kind: str, node: ast.List | ast.Tuple | ast.Set) -> ast.expr:
        if any(isinstance(e, ast.Starred) for e in node.elts):
            return _helper("part", _thunk(node))
        return _helper("display", ast.Constant(kind), *map(self.expr, node.elts))

    def _List(self, node: ast.List) -> ast.expr:
        return self._display("list", node)

    def _Tuple(self, node: ast.Tuple) -> ast.expr:
        return self._display("tuple", node)

    def _Set(self, node: ast.Set) -> ast.expr:
        return self._display("set", node)

    def _Dict(self, node: ast.Dict) -> ast.expr:
        if any(k is None for k in node.keys):
            return _helper("part", _thunk(node))
        pairs = [ast.Tuple([self.expr(k), self.expr(v)], ast.Load()) for k, v in zip(node.keys, node.values)]
        return _helper("display", ast.Constant("dict"), *pairs)

    def _comprehension(self, kind: str, node: ast.expr, parts: list[ast.expr]) -> ast.expr:
        (gen,) = node.generators if len(node.generators) == 1 else (None,)
        if gen is None or gen.is_async:
            return _helper("part", _thunk(node))
        # every item's conditions and element, evaluated whatever the conditions say
        row = ast.Tuple([self.expr(c) for c in gen.ifs] + [self.expr(p) for p in parts], ast.Load())
        rows = ast.GeneratorExp(row, [ast.comprehension(gen.target, _helper("iter", self.expr(gen.iter)), [], 0)])
        return _helper("comprehension", ast.Constant(kind), rows, ast.Constant(len(gen.ifs)))

    def _ListComp(self, node: ast.ListComp) -> ast.expr:
        return self._comprehension("list", node, [node.elt])

    def _SetComp(self, node: ast.SetComp) -> ast.expr:
        return self._comprehension("set", node, [node.elt])

    def _GeneratorExp(self, node: ast.GeneratorExp) -> ast.expr:
        return self._comprehension("generator", node, [node.elt])

    def _DictComp(self, node: ast.DictComp) -> ast.expr:
        return self._comprehension("dict", node, [node.key, node.value])


class _Asserts(ast.NodeTransformer):
    """Every ``assert`` outside ``try``/``with`` and class bodies becomes ``CHECK(test, message)``."""

    def __init__(self, shadowed: frozenset[str]) -> None:
        self.uniform = _Uniform(shadowed)
        self.kept = 0  # depth of the try/with bodies (which may catch) and class bodies

    def _keep_raising(self, node: ast.AST) -> ast.AST:
        self.kept += 1
        try:
            return self.generic_visit(node)
        finally:
            self.kept -= 1

    visit_Try = visit_TryStar = visit_With = visit_AsyncWith = visit_ClassDef = _keep_raising

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        if self.kept:
            return node
        args = [self.uniform.expr(node.test)] + ([self.uniform.expr(node.msg)] if node.msg is not None else [])
        check = ast.fix_missing_locations(ast.copy_location(ast.Expr(ast.Call(ast.Name(CHECK, ast.Load()), args, [])),
                                                            node))
        try:  # a shape the rewrite does not know yet stays Python's own rather than breaking the test
            compile(ast.Module([check], []), "<assert>", "exec")
        except (SyntaxError, ValueError, TypeError):
            return node
        return check


def blind(source: str, filename: str, shadowed: frozenset[str] = frozenset()) -> object:
    """``source`` compiled with its assertions rewritten (see the module docstring).

    ``shadowed``: builtin names that are the program's in this task (an entry point called ``all``).
    """
    tree = _Asserts(shadowed).visit(ast.parse(source, filename))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


class _Poison:
    """An exception held in place of a part's result, so that the rest of the assertion still runs."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_NO_MESSAGE = object()


class Assertions:
    """One test's failed assertions, and the helpers its rewritten code calls (:meth:`helpers`).

    ``stops``: exceptions that end the test at once wherever they come from (the program is gone,
    the judge is out of memory), never held as a poison or recorded as a failed assertion.
    """

    def __init__(self, stops: tuple[type[BaseException], ...] = (MemoryError,)) -> None:
        self.stops = stops
        self.failed: list[BaseException] = []
        self._held: list[BaseException] = []  # what a holding assertion builds, so both ways cost the same

    def helpers(self) -> dict[str, object]:
        """The names the rewritten tests call, bound to this record."""
        return {CHECK: self.check, **{f"_pg_{name}": getattr(self, name) for name in (
            "part", "op", "compare", "call", "attr", "item", "slice", "display", "comprehension", "iter")},
            "_pg_and": self.and_, "_pg_or": self.or_, "_pg_if": self.if_, "_pg_all": self.all_,
            "_pg_any": self.any_}

    def check(self, value: object, message: object = _NO_MESSAGE) -> None:
        """``assert value, message``, recorded instead of raised; the message is made text either way."""
        held, failure = self._truth(value)
        if message is _NO_MESSAGE:
            error: BaseException = AssertionError()
        elif type(message) is _Poison:
            error = message.exc
        else:
            text = self._run(lambda: str(message))  # str() of a program's value asks the program: always ask
            error = text.exc if type(text) is _Poison else AssertionError(text)
        (self._held if failure is None and held else self.failed).append(failure or error)
        self._held.clear()

    # -- parts --------------------------------------------------------------------------------------
    def _run(self, thunk) -> object:  # noqa: ANN001
        try:
            return thunk()
        except Exception as exc:  # noqa: BLE001  # held, raised later where Python would have raised it
            if isinstance(exc, self.stops):
                raise
            return _Poison(exc)

    def _truth(self, value: object) -> tuple[bool, BaseException | None]:
        if type(value) is _Poison:
            return False, value.exc
        truth = self._run(lambda: bool(value))
        return (False, truth.exc) if type(truth) is _Poison else (truth, None)  # type: ignore[return-value]

    def part(self, thunk) -> object:  # noqa: ANN001
        """A part run its own way: its value, or its exception held."""
        return self._run(thunk)

    def op(self, name: str, *operands: object) -> object:
        """An operator of the ``operator`` module on operands that may be held exceptions."""
        for value in operands:
            if type(value) is _Poison:
                return value
        return self._run(lambda: _OPERATORS[name](*operands))

    def call(self, func: object, args: tuple, kwargs: dict) -> object:
        """``func(*args, **kwargs)``; not made when any of them is a held exception."""
        for value in (func, *args, *kwargs.values()):
            if type(value) is _Poison:
                return value
        return self._run(lambda: func(*args, **kwargs))  # type: ignore[operator]

    def attr(self, obj: object, name: str) -> object:
        """``obj.name``."""
        return obj if type(obj) is _Poison else self._run(lambda: getattr(obj, name))

    def item(self, obj: object, key: object) -> object:
        """``obj[key]``."""
        for value in (obj, key):
            if type(value) is _Poison:
                return value
        return self._run(lambda: obj[key])  # type: ignore[index]

    def slice(self, *parts: object) -> object:
        """``slice(lower, upper, step)``."""
        for value in parts:
            if type(value) is _Poison:
                return value
        return slice(*parts)

    def display(self, kind: str, *items: object) -> object:
        """A list, tuple, set or dict display (dict items as pairs)."""
        for value in items:
            if type(value) is _Poison:
                return value
            if kind == "dict":
                for part in value:  # type: ignore[union-attr]
                    if type(part) is _Poison:
                        return part
        return self._run(lambda: {"list": list, "tuple": tuple, "set": set, "dict": dict}[kind](items))

    def and_(self, *values: object) -> object:
        """``a and b and ...``: Python's answer from operands all evaluated."""
        return self._boolean(values, stop_on=False)

    def or_(self, *values: object) -> object:
        """``a or b or ...``: Python's answer from operands all evaluated."""
        return self._boolean(values, stop_on=True)

    def _boolean(self, values: tuple, stop_on: bool) -> object:
        for value in values[:-1]:
            truth, error = self._truth(value)
            if error is not None:
                return value if type(value) is _Poison else _Poison(error)
            if truth is stop_on:
                return value
        return values[-1]

    def compare(self, ops: tuple[str, ...], *operands: object) -> object:
        """``a op1 b op2 c ...``: Python's answer from operands all evaluated."""
        result: object = True
        for i, name in enumerate(ops):
            left, right = operands[i], operands[i + 1]
            if i == 0 and type(left) is _Poison:
                return left
            if type(right) is _Poison:
                return right
            result = self._run(lambda: _OPERATORS[name](left, right))
            if i == len(ops) - 1 or type(result) is _Poison:
                return result
            truth, error = self._truth(result)
            if error is not None:
                return _Poison(error)
            if not truth:
                return result
        return result

    def if_(self, test: object, body: object, orelse: object) -> object:
        """``body if test else orelse``: Python's answer from all three evaluated."""
        truth, error = self._truth(test)
        if error is not None:
            return test if type(test) is _Poison else _Poison(error)
        return body if truth else orelse

    def iter(self, iterable: object) -> object:
        """The iterable a rewritten comprehension walks: a held exception (or a non-iterable) raises when walked."""
        if type(iterable) is _Poison:
            return self._raising(iterable.exc)
        it = self._run(lambda: iter(iterable))  # type: ignore[call-overload]
        return self._raising(it.exc) if type(it) is _Poison else it

    @staticmethod
    def _raising(exc: BaseException):  # noqa: ANN205
        raise exc
        yield  # pragma: no cover  # a generator: raises when walked

    def comprehension(self, kind: str, rows: object, n_conds: int) -> object:
        """A comprehension from its rows (each item's conditions, then its element; a dict's key and value)."""
        walked, rest = self._walk(rows, None if kind != "generator" else PREFETCH)
        if kind == "generator":
            return self._replay(walked, rest, n_conds)
        out: list = []
        for row in walked:
            item = self._kept(row, n_conds)
            if type(item) is _Poison:
                return item
            if item is not _SKIP:
                out.append(item)
        if kind == "list":
            return out
        return self._run(lambda: set(out) if kind == "set" else {k: v for k, v in out})

    def _walk(self, rows: object, limit: int | None) -> tuple[list, object]:
        walked: list = []
        iterator = iter(rows)  # type: ignore[call-overload]
        while limit is None or len(walked) < limit:
            row = self._run(lambda: next(iterator))
            if type(row) is _Poison:
                if type(row.exc) is not StopIteration:
                    walked.append(row)
                return walked, None
            walked.append(row)
        return walked, iterator

    def _kept(self, row: object, n_conds: int) -> object:
        """A row's element if its conditions hold, _SKIP if not, or the first exception held."""
        if type(row) is _Poison:
            return row
        for cond in row[:n_conds]:  # type: ignore[index]
            truth, error = self._truth(cond)
            if error is not None:
                return cond if type(cond) is _Poison else _Poison(error)
            if not truth:
                return _SKIP
        parts = row[n_conds:]  # type: ignore[index]
        for part in parts:
            if type(part) is _Poison:
                return part
        return parts[0] if len(parts) == 1 else tuple(parts)

    def _replay(self, walked: list, rest: object, n_conds: int):  # noqa: ANN202
        for row in walked:
            item = self._kept(row, n_conds)
            if type(item) is _Poison:
                raise item.exc
            if item is not _SKIP:
                yield item
        if rest is not None:  # past PREFETCH: Python's own lazy way
            for row in rest:  # type: ignore[attr-defined]
                item = self._kept(row, n_conds)
                if type(item) is _Poison:
                    raise item.exc
                if item is not _SKIP:
                    yield item

    def all_(self, iterable: object) -> object:
        """``all`` that consumes the iterable (up to PREFETCH items) before answering."""
        return self._consume(iterable, stop_on=False)

    def any_(self, iterable: object) -> object:
        """``any`` that consumes the iterable (up to PREFETCH items) before answering."""
        return self._consume(iterable, stop_on=True)

    def _consume(self, iterable: object, stop_on: bool) -> object:
        decided: object = None
        iterator = iter(iterable)  # type: ignore[call-overload]
        for count in range(PREFETCH + 1):
            item = self._run(lambda: next(iterator))
            if type(item) is _Poison:
                if type(item.exc) is StopIteration:
                    break
                decided = decided if decided is not None else item.exc  # an iterator that raised is finished
                break
            if decided is None:
                truth, error = self._truth(item)
                decided = error if error is not None else (stop_on if truth is stop_on else None)
            if count == PREFETCH and decided is not None:
                break
        if decided is None and count == PREFETCH:  # an endless iterator: finish as Python would
            decided = (any if stop_on else all)(iterator)
        if isinstance(decided, BaseException):
            raise decided
        return (not stop_on) if decided is None else decided


_SKIP = object()
