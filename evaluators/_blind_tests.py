"""Tests rewritten so that a run cannot tell, from what it is asked, whether its answers were right.

A test that stops at its first failed assertion tells the program which answer was wrong: the calls
after it never come. So does any part of an assertion that is skipped because an earlier part came
out one way: ``and``, chained comparisons, ``x if c else y``, ``all(...)``, ``next(...)``, or an
exception that a comparison raises only when the answer's first items were right (a list ending in a
value that cannot be compared). A run that can carry a few bits to a later run (host-wide kernel
state; see the threat model) could then learn, over several runs, which of its guesses a test accepts.

So the judge runs a rewritten copy of each test (the caller's source is never changed):

* a failed ``assert`` is recorded and the test goes on; the test fails at its end with the first
  failure, and the message Python would have given;
* in an ``assert`` that can have no effect the judge can see (no walrus, no call of a function the
  test or setup defines, no method call on the judge's own variables, no builtin walking a shared
  iterator: see ``_Speculation``), every part is evaluated, each exception held as a value (a
  *poison*) in place of the part's result, and Python's answer is then worked out from those results:

  * operations (calls, comparisons, arithmetic, indexing, attributes, displays) never raise: an
    operand that is a poison makes the result that poison, and an operation that raises gives a new one;
  * ``and``, ``or``, chained comparisons and ``x if c else y`` evaluate every operand, then give
    Python's answer (or the exception Python would have raised first);
  * comprehensions evaluate their element and conditions for every item; a generator over a
    container is walked ahead (up to ``PREFETCH`` items), one over an iterator goes Python's way
    (walking it ahead would use up what the test reads next); ``all``/``any`` of an iterable the
    assertion builds itself walk it to the end first;
  * the message is evaluated, and made text, whether the assertion holds or not;

* any other ``assert`` is evaluated in Python's order (a walrus one is left as it is): what it skips
  could change what the test sees next.

Left as Python runs them: asserts inside ``try``/``with`` (the test may catch them on purpose), class
bodies (the methods of a plain class of the test's own are rewritten; those of a class with bases, such as
a ``unittest.TestCase``, whose framework catches what they raise, are not) and functions or methods the
test calls inside a ``try``; control flow the test writes itself (``if``,
``break``) and functions it defines;
comprehensions with several ``for`` clauses, starred arguments, f-strings and extended slices (each run
as one part); an assertion whose rewrite would not compile. A call whose arguments are themselves a
failed part is not made.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import operator

PREFETCH = 10_000
"""Items a generator over a container is walked ahead; past them (an endless one), Python's own way."""

CHECK, CHECK_IN_ORDER = "_pg_check", "_pg_check_in_order"
"""The rewritten ``assert``: ``CHECK(value, message)``, or ``CHECK_IN_ORDER(test_thunk, message_thunk)``."""

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


def _thunk(expr: ast.expr, *params: str) -> ast.Lambda:
    return ast.Lambda(ast.arguments(posonlyargs=[], args=[ast.arg(p) for p in params], vararg=None, kwonlyargs=[],
                                    kw_defaults=[], kwarg=None, defaults=[]), expr)


class _Uniform:
    """One assertion's expression rewritten so that every part is evaluated (see the module docstring)."""

    def __init__(self, speculation: _Speculation, program_names: frozenset[str]) -> None:
        self.speculation = speculation
        self.program_names = program_names

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

    def _Call(self, node: ast.Call) -> ast.expr:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return _helper("part", _thunk(node))
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("all", "any") and func.id not in self.program_names | \
                self.speculation.judge_names and len(node.args) == 1 and not node.keywords and \
                self.speculation.fresh(node.args[0]):
            func = ast.Name(f"_pg_{func.id}", ast.Load())  # walks its own fresh iterable to the end first
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
        # every item's conditions and element, evaluated whatever the conditions say, from the source given
        row = ast.Tuple([self.expr(c) for c in gen.ifs] + [self.expr(p) for p in parts], ast.Load())
        source = ast.Name("_pg_source", ast.Load())
        rows = _thunk(ast.GeneratorExp(row, [ast.comprehension(gen.target, source, [], 0)]), "_pg_source")
        return _helper("comprehension", ast.Constant(kind), self.expr(gen.iter), rows, ast.Constant(len(gen.ifs)))

    def _ListComp(self, node: ast.ListComp) -> ast.expr:
        return self._comprehension("list", node, [node.elt])

    def _SetComp(self, node: ast.SetComp) -> ast.expr:
        return self._comprehension("set", node, [node.elt])

    def _GeneratorExp(self, node: ast.GeneratorExp) -> ast.expr:
        return self._comprehension("generator", node, [node.elt])

    def _DictComp(self, node: ast.DictComp) -> ast.expr:
        return self._comprehension("dict", node, [node.key, node.value])


# builtins whose call can change nothing the test sees later, and those that walk (use up) an iterator argument
_PURE_BUILTINS = frozenset("abs ascii bin bool bytes callable chr complex dir divmod float format getattr hasattr hash "
                           "hex id int isinstance issubclass len oct ord pow range repr round slice str type "
                           "vars".split())
_WALKING_BUILTINS = frozenset("all any dict enumerate filter frozenset iter list map max min next reversed set sorted "
                              "sum tuple zip".split())
_PURE_MODULES = frozenset("math cmath re string operator statistics fractions decimal copy json hashlib".split())
_BUILTINS = frozenset(dir(builtins))


class _Speculation:
    """Whether evaluating an expression that Python would skip can change anything the test sees later.

    Judge-side effects only: a walrus, a call of a function the test or setup defines (``judge_names``),
    a method call on anything but a fresh value (``ok.append``), a builtin outside the pure ones, a walk
    over an iterator the test may read again. Calls of other names (the program's functions, the
    ``candidate`` parameter) act in the program's process, which knows what it was asked anyway.
    """

    def __init__(self, judge_names: frozenset[str], judge_functions: frozenset[str]) -> None:
        self.judge_names = judge_names
        self.judge_functions = judge_functions

    def safe(self, node: ast.AST) -> bool:
        for n in _nodes(node):
            if isinstance(n, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
                return False
            if isinstance(n, ast.Call) and not self._safe_call(n):
                return False
            if isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)) and \
                    not all(self.fresh(g.iter) for g in n.generators):
                return False
        return True

    def _safe_call(self, call: ast.Call) -> bool:
        # a callable handed to a call (key=ok.append, key=helper) runs as part of it: the judge's own are not safe
        keywords = [k.value for k in call.keywords]
        for arg in [*call.args, *keywords]:
            arg = arg.value if isinstance(arg, ast.Starred) else arg
            if isinstance(arg, ast.Attribute) and not self.fresh(arg.value) and not (
                    isinstance(arg.value, ast.Name) and arg.value.id in _PURE_MODULES):
                return False
            judge_own = self.judge_names if arg in keywords else self.judge_functions  # key=cb: any variable of ours
            if isinstance(arg, ast.Name) and (arg.id in judge_own or arg.id in _BUILTINS - _PURE_BUILTINS):
                return False
        func = call.func
        if isinstance(func, ast.Name):
            name = func.id
            if name in self.judge_names:
                return False
            if name in _PURE_BUILTINS:
                return True
            if name in _WALKING_BUILTINS:
                return all(self.fresh(a.value if isinstance(a, ast.Starred) else a) for a in call.args)
            return name not in _BUILTINS  # the program's (or a parameter holding it)
        if isinstance(func, ast.Attribute):
            receiver = func.value
            if isinstance(receiver, ast.Name) and receiver.id in _PURE_MODULES and receiver.id not in self.judge_names:
                return True
            return self.fresh(receiver)
        return False

    def fresh(self, node: ast.AST) -> bool:
        """A value made by the expression itself, that nothing else holds: walking or mutating it is unseen."""
        if isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp,
                             ast.GeneratorExp, ast.DictComp, ast.JoinedStr, ast.BinOp, ast.Lambda)):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                return func.id == "range" or (func.id not in _BUILTINS and func.id not in self.judge_names) or \
                    (func.id in _PURE_BUILTINS | _WALKING_BUILTINS and self._safe_call(node))
            if isinstance(func, ast.Attribute):
                return self.fresh(func.value)
        return False


def judge_defined(sources: list[str | ast.AST]) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Names the trusted code (sources, or their parsed trees) binds itself (functions, classes, variables,
    imports; not function parameters), those of them that are its functions and classes, and its classes."""
    names: set[str] = set()
    functions: set[str] = set()
    classes: set[str] = set()
    for source in sources:
        for n in _nodes(ast.parse(source) if isinstance(source, str) else source):
            if isinstance(n, ast.ClassDef):
                classes.add(n.name)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                functions.add(n.name)
            elif isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda):
                functions.update(t.id for t in n.targets if isinstance(t, ast.Name))
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
            elif isinstance(n, ast.alias):
                names.add((n.asname or n.name).split(".")[0])
    return frozenset(names | functions), frozenset(functions), frozenset(classes)


class _Asserts(ast.NodeTransformer):
    """Every ``assert`` outside ``try``/``with`` and class bodies (but in the methods of the test's own
    plain classes) becomes ``CHECK(test, message)``, or
    ``CHECK_IN_ORDER(lambda: test, lambda: message)`` where evaluating every part could be seen."""

    def __init__(self, judge_names: tuple[frozenset[str], frozenset[str], frozenset[str]],
                 program_names: frozenset[str], caught: frozenset[str], each: bool = False) -> None:
        self.speculation = _Speculation(judge_names[0] - program_names, judge_names[1] - program_names)
        # a class of the trusted code runs its own code unseen (a property, __eq__, __getitem__, __bool__
        # of its instances, wherever they are): no part of an assert is then evaluated that Python skips
        self.in_order = bool(judge_names[2] - program_names)
        self.uniform = _Uniform(self.speculation, program_names)
        self.caught = caught  # functions the test calls inside a try: their asserts must raise to be caught
        self.each = each  # compile each rewritten assert on its own, keeping Python's where it fails
        self.kept = 0  # depth of the try/with bodies (which may catch), class bodies and such functions

    def _keep_raising(self, node: ast.AST) -> ast.AST:
        self.kept += 1
        try:
            return self.generic_visit(node)
        finally:
            self.kept -= 1

    visit_Try = visit_TryStar = visit_With = visit_AsyncWith = _keep_raising

    def generic_visit(self, node: ast.AST) -> ast.AST:
        # asserts are statements: only the statements in a node are visited, never its expressions (most
        # of a test's nodes)
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for i, item in enumerate(value):
                    if isinstance(item, (ast.stmt, ast.excepthandler, ast.match_case)):
                        value[i] = self.visit(item)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # a plain class of the test's own (no framework calls its methods and catches what they raise)
        # has its methods rewritten, but for those Python calls unseen (dunders); its body's other
        # statements, and any other class (bases, a metaclass, decorators but dataclass), raise
        plain = all(isinstance(b, ast.Name) and b.id == "object" for b in node.bases) and not node.keywords \
            and all(_name_of(d) in ("dataclass", "dataclasses.dataclass") for d in node.decorator_list)
        if not plain:
            return self._keep_raising(node)
        node.body = [self._keep_raising(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                        ast.ClassDef))
                     or (stmt.name.startswith("__") and stmt.name.endswith("__")) else self.visit(stmt)
                     for stmt in node.body]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._keep_raising(node) if node.name in self.caught else self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        if self.kept:
            return node
        parts = [node.test] + ([node.msg] if node.msg is not None else [])
        if not self.in_order and all(self.speculation.safe(p) for p in parts):
            check = ast.Call(ast.Name(CHECK, ast.Load()), [self.uniform.expr(p) for p in parts], [])
        elif any(isinstance(n, ast.NamedExpr) for n in _nodes(node)):
            return node  # a walrus binds where the test reads it: not inside a thunk
        else:
            check = ast.Call(ast.Name(CHECK_IN_ORDER, ast.Load()), [_thunk(p) for p in parts], [])
        check = ast.copy_location(ast.Expr(check), node)
        if self.each:
            try:  # a shape the rewrite does not know yet stays Python's own rather than breaking the test
                compile(ast.Module([_fix_locations(check)], []), "<assert>", "exec")
            except (SyntaxError, ValueError, TypeError):
                return node
        return check


def _name_of(node: ast.AST) -> str:
    """``a.b.c`` for a name or an attribute chain (a decorator, a callee), else ''."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return f"{_name_of(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _called(node: ast.AST) -> set[str]:
    """The names (or method names) ``node`` calls."""
    return {n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in _nodes(node)
            if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute))}


def _raising(tree: ast.AST) -> frozenset[str]:
    """The test's functions and methods whose asserts must raise: those called inside a ``try`` or
    ``with`` (which may catch them) or by such a function, and those handed on as values (a thread's
    ``target``, a callback: who calls them may catch)."""
    defined: dict[str, ast.AST] = {}
    callees: set[int] = set()
    loads: list[tuple[int, str]] = []
    todo: list[str] = []
    for n in _nodes(tree):  # one walk: this runs for every test the judge compiles
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined[n.name] = n
        elif isinstance(n, ast.Call):
            callees.add(id(n.func))
        elif isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load):
            loads.append((id(n), n.id if isinstance(n, ast.Name) else n.attr))
        elif isinstance(n, (ast.Try, ast.TryStar, ast.With)):
            todo.extend(name for stmt in n.body for name in _called(stmt))
    todo.extend(name for key, name in loads if key not in callees and name in defined)
    raising: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in raising:
            raising.add(name)
            if name in defined:
                todo.extend(_called(defined[name]))
    return frozenset(raising)


def blind(source: str, filename: str, judge_names: tuple[frozenset[str], frozenset[str]] | None = None,
          program_names: frozenset[str] = frozenset(), tree: ast.Module | None = None) -> object:
    """``source`` compiled with its assertions rewritten (see the module docstring).

    ``judge_names``: :func:`judge_defined` of the trusted code, the task's setup included (default: of ``source``);
    ``program_names``: builtin names that are the program's in this task (an entry point called ``all``);
    ``tree``: ``source`` parsed already (it is rewritten in place).
    """
    tree = ast.parse(source, filename) if tree is None else tree
    judge_names = judge_defined([tree]) if judge_names is None else judge_names
    raising = _raising(tree)
    rewritten = _Asserts(judge_names, program_names, raising).visit(tree)
    try:
        return compile(_fix_locations(rewritten), filename, "exec")
    except (SyntaxError, ValueError, TypeError):  # one assert the rewrite does not know: find it, keep it
        tree = _Asserts(judge_names, program_names, raising, each=True).visit(ast.parse(source, filename))
        return compile(_fix_locations(tree), filename, "exec")


# The judge compiles every new task's tests (per worker): these two stand in for ast.walk and
# ast.fix_missing_locations, whose generators cost ~40% more (with each test parsed once, a HumanEval
# task's tests compile in 0.64 ms instead of 0.82).
def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree``, ``tree`` first (breadth first, as ast.walk)."""
    nodes = [tree]
    for node in nodes:  # grows as it is read
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                nodes.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes


def _fix_locations(tree: ast.AST) -> ast.AST:
    """ast.fix_missing_locations: a node without a position takes its parent's."""
    todo = [(tree, 1, 0, 1, 0)]
    while todo:
        node, line, col, end_line, end_col = todo.pop()
        if "lineno" in node._attributes:
            own = node.__dict__
            if "lineno" in own:
                line = own["lineno"]
            else:
                node.lineno = line  # type: ignore[attr-defined]
            if "col_offset" in own:
                col = own["col_offset"]
            else:
                node.col_offset = col  # type: ignore[attr-defined]
            if own.get("end_lineno") is not None:
                end_line = own["end_lineno"]
            else:
                node.end_lineno = end_line  # type: ignore[attr-defined]
            if own.get("end_col_offset") is not None:
                end_col = own["end_col_offset"]
            else:
                node.end_col_offset = end_col  # type: ignore[attr-defined]
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                todo.extend((v, line, col, end_line, end_col) for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                todo.append((value, line, col, end_line, end_col))
    return tree


class _Poison:
    """An exception held in place of a part's result, so that the rest of the assertion still runs."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_NO_MESSAGE = object()
_SKIP = object()  # a comprehension item its conditions leave out


def _first_poison(values: object) -> _Poison | None:
    return next((v for v in values if type(v) is _Poison), None)  # type: ignore[attr-defined]


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
        parts = ("part", "op", "compare", "call", "attr", "item", "slice", "display", "comprehension")
        return {CHECK: self.check, CHECK_IN_ORDER: self.check_in_order,
                **{f"_pg_{name}": getattr(self, name) for name in parts},
                "_pg_and": self.and_, "_pg_or": self.or_, "_pg_if": self.if_, "_pg_all": self.all_,
                "_pg_any": self.any_}

    def check(self, value: object, message: object = _NO_MESSAGE) -> None:
        """``assert value, message``, recorded instead of raised; the message is made text either way."""
        held, poison = self._truth(value)
        failure = poison.exc if poison else None
        if message is _NO_MESSAGE:
            error: BaseException = AssertionError()
        elif type(message) is _Poison:
            error = message.exc
        else:
            text = self._run(lambda: str(message))  # str() of a program's value asks the program: always ask
            error = text.exc if type(text) is _Poison else AssertionError(text)
        (self._held if failure is None and held else self.failed).append(failure or error)
        self._held.clear()

    def check_in_order(self, test, message=None) -> None:  # noqa: ANN001
        """``assert test(), message()`` in Python's order (the message only on failure), recorded instead of raised."""
        held, poison = self._truth(self._run(test))
        if poison:
            self.failed.append(poison.exc)
        elif not held:  # the message made text now, as `check` does: no program value outlives the assert
            text = self._run(lambda: str(message())) if message is not None else None
            self.failed.append(text.exc if type(text) is _Poison else
                               AssertionError(*(() if message is None else (text,))))

    # -- parts --------------------------------------------------------------------------------------
    def _run(self, thunk) -> object:  # noqa: ANN001
        try:
            return thunk()
        except Exception as exc:  # noqa: BLE001  # held, raised later where Python would have raised it
            if isinstance(exc, self.stops):
                raise
            # its frames would keep the operands alive, and when the judge lets go of a shared value
            # is something the program sees: that must not depend on whether a comparison raised
            exc.__traceback__ = exc.__context__ = None
            return _Poison(exc)

    def _truth(self, value: object) -> tuple[bool, _Poison | None]:
        """The truth of a part, or the exception that stands for it (the part's own, or its ``bool()``'s)."""
        if type(value) is _Poison:
            return False, value
        truth = self._run(lambda: bool(value))
        return (False, truth) if type(truth) is _Poison else (truth, None)  # type: ignore[return-value]

    def part(self, thunk) -> object:  # noqa: ANN001
        """A part run its own way: its value, or its exception held."""
        return self._run(thunk)

    def op(self, name: str, *operands: object) -> object:
        """An operator of the ``operator`` module on operands that may be held exceptions."""
        return _first_poison(operands) or self._run(lambda: _OPERATORS[name](*operands))

    def call(self, func: object, args: tuple, kwargs: dict) -> object:
        """``func(*args, **kwargs)``; not made when any of them is a held exception."""
        poison = _first_poison((func, *args, *kwargs.values()))
        return poison or self._run(lambda: func(*args, **kwargs))  # type: ignore[operator]

    def attr(self, obj: object, name: str) -> object:
        """``obj.name``."""
        return obj if type(obj) is _Poison else self._run(lambda: getattr(obj, name))

    def item(self, obj: object, key: object) -> object:
        """``obj[key]``."""
        return _first_poison((obj, key)) or self._run(lambda: obj[key])  # type: ignore[index]

    def slice(self, *parts: object) -> object:
        """``slice(lower, upper, step)``."""
        return _first_poison(parts) or slice(*parts)

    def display(self, kind: str, *items: object) -> object:
        """A list, tuple, set or dict display (dict items as pairs)."""
        poison = _first_poison(part for pair in items for part in pair) if kind == "dict" else _first_poison(items)
        return poison or self._run(lambda: {"list": list, "tuple": tuple, "set": set, "dict": dict}[kind](items))

    def and_(self, *values: object) -> object:
        """``a and b and ...``: Python's answer from operands all evaluated."""
        return self._boolean(values, stop_on=False)

    def or_(self, *values: object) -> object:
        """``a or b or ...``: Python's answer from operands all evaluated."""
        return self._boolean(values, stop_on=True)

    def _boolean(self, values: tuple, stop_on: bool) -> object:
        for value in values[:-1]:
            truth, poison = self._truth(value)
            if poison or truth is stop_on:
                return poison or value
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
            truth, poison = self._truth(result)
            if poison or not truth:
                return poison or result
        return result

    def if_(self, test: object, body: object, orelse: object) -> object:
        """``body if test else orelse``: Python's answer from all three evaluated."""
        truth, poison = self._truth(test)
        return poison or (body if truth else orelse)

    def comprehension(self, kind: str, source: object, rows, n_conds: int) -> object:  # noqa: ANN001
        """A comprehension over ``source``: ``rows(iterator)`` gives each item's conditions, then its element
        (a dict's key and value). A generator over a container is walked ahead; over an iterator, it goes
        Python's way, since walking ahead would use up what the test may read next."""
        if type(source) is _Poison:
            return source
        iterator = self._run(lambda: iter(source))  # type: ignore[call-overload]
        if type(iterator) is _Poison:
            return iterator
        if kind == "generator":
            if iterator is source:
                return self._replay([], rows(iterator), n_conds)
            walked, rest = self._walk(rows(iterator), PREFETCH)
            return self._replay(walked, rest, n_conds)
        walked, _ = self._walk(rows(iterator), None)
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
        first_error = None
        while (limit is None or len(walked) < limit) and (first_error is None or len(walked) - first_error < PREFETCH):
            row = self._run(lambda: next(iterator))
            if type(row) is _Poison:
                if type(row.exc) is StopIteration:
                    return walked, None
                first_error = len(walked) if first_error is None else first_error
            walked.append(row)  # past an exception too (map() goes on; a generator that raised ends), not forever
        return walked, iterator

    def _kept(self, row: object, n_conds: int) -> object:
        """A row's element if its conditions hold, _SKIP if not, or the first exception held."""
        if type(row) is _Poison:
            return row
        for cond in row[:n_conds]:  # type: ignore[index]
            truth, poison = self._truth(cond)
            if poison or not truth:
                return poison or _SKIP
        parts = row[n_conds:]  # type: ignore[index]
        return _first_poison(parts) or (parts[0] if len(parts) == 1 else tuple(parts))

    def _replay(self, walked: list, rest: object, n_conds: int):  # noqa: ANN202
        for row in itertools.chain(walked, rest or ()):  # past PREFETCH (rest): Python's own lazy way
            item = self._kept(row, n_conds)
            if type(item) is _Poison:
                raise item.exc
            if item is not _SKIP:
                yield item

    def all_(self, iterable: object) -> object:
        """``all`` of an iterable the assertion made itself: walked to the end (up to PREFETCH) before answering."""
        return self._decide(iterable, stop_on=False)

    def any_(self, iterable: object) -> object:
        """``any`` of an iterable the assertion made itself: walked to the end (up to PREFETCH) before answering."""
        return self._decide(iterable, stop_on=True)

    def _decide(self, iterable: object, stop_on: bool) -> object:
        iterator = iter(iterable)  # type: ignore[call-overload]
        walked, rest = self._walk(iterator, PREFETCH)
        for item in walked:
            if type(item) is _Poison:
                raise item.exc
            if bool(item) is stop_on:
                return stop_on
        return (any if stop_on else all)(rest) if rest is not None else not stop_on
