"""Read a model package's Python source without running it: what `validate` checks statically.

`modelops validate` must be fast and must not execute a team's code (a spec in a
pull request could point at anything). So instead of importing, it locates each
module's file under the project's `src/` (then on `sys.path`, still without
importing: `importlib.machinery.PathFinder` only looks at folders), parses it with
`ast`, and asks which names the module binds at top level: `def`, `class`,
assignments and `from x import name` re-exports, followed into the modules they
name. For a pandera `DataFrameSchema(...)` it also reads the column names, by
evaluating the dict keys with a tiny interpreter that knows literals, module
constants, f-strings, comprehensions and a few pure builtins (`range`, `tuple`,
`sorted` ...), and nothing else: whatever it cannot evaluate is reported as
unknown, never guessed.
"""

from __future__ import annotations

import ast
import builtins
import operator
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

# A generated column list larger than this is not something to evaluate in validate.
_MAX_ITEMS = 100_000
# How many re-exports (`from a import b`) to follow before giving up: cycles end here.
_MAX_HOPS = 25
_PURE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "range",
        "tuple",
        "list",
        "set",
        "frozenset",
        "sorted",
        "reversed",
        "enumerate",
        "zip",
        "str",
        "int",
        "len",
        "dict",
    )
}


_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class Unknown(Exception):
    """The source does not say statically (a call, a computed value, a module outside reach)."""


@dataclass(frozen=True)
class Binding:
    """What a top-level name of a module is bound to.

    kind: "def" (function), "class", "value" (assignment: `node`), "module" (a
    module: `target`), "import" and "star" (`from target import ...`, followed by
    `SourceIndex.resolve`), "opaque" (defined where source is not read: an
    installed library, a module `__getattr__`).
    """

    kind: str
    module: str
    node: ast.expr | None = None
    target: str = ""


class SourceError(Exception):
    """A module cannot be located or parsed; the message says which and why."""


@dataclass
class _Module:
    """A located module: `path` is its source file (None for a namespace package or a
    module outside the project, whose source is not read); `folder` holds its submodules."""

    name: str
    path: Path | None
    folder: Path | None = None
    external: bool = False

    @cached_property
    def tree(self) -> ast.Module:
        assert self.path is not None
        try:
            return ast.parse(self.path.read_bytes(), filename=str(self.path))
        except SyntaxError as exc:
            raise SourceError(
                f"{self.path.name} line {exc.lineno}: SyntaxError: {exc.msg}"
            ) from None
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot read {self.path}: {exc}") from None

    @property
    def is_package(self) -> bool:
        return self.folder is not None or self.external


class SourceIndex:
    """Modules of one project's `src/`, parsed on demand and cached.

    A module outside `src/` (an installed library) is only located, with
    `PathFinder`, which looks at folders and imports nothing; its names are
    taken on trust.
    """

    def __init__(self, src: Path) -> None:
        self.src = src
        self._modules: dict[str, _Module | None] = {}
        self._bindings: dict[str, dict[str, Binding]] = {}
        # Column names by schema binding (the module's AST nodes live as long as the index).
        self.columns: dict[tuple[str, int], set[str] | None] = {}

    # -- locating ------------------------------------------------------

    def find(self, name: str) -> _Module | None:
        """The module `name` (dotted), or None when it does not exist."""
        if name not in self._modules:
            self._modules[name] = self._locate(name)
        return self._modules[name]

    def _locate(self, name: str) -> _Module | None:
        parent, _, last = name.rpartition(".")
        if parent:
            pkg = self.find(parent)
            if pkg is None or not pkg.is_package:
                return None
            if pkg.external:
                return _Module(name, None, external=True)
            folder = pkg.folder
        else:
            folder = self.src
        assert folder is not None
        if (folder / last / "__init__.py").is_file():
            return _Module(name, folder / last / "__init__.py", folder / last)
        if (folder / f"{last}.py").is_file():
            return _Module(name, folder / f"{last}.py")
        if (folder / last).is_dir():
            return _Module(name, None, folder / last)  # a namespace package
        if not parent and PathFinder.find_spec(last, sys.path) is not None:
            return _Module(name, None, external=True)
        return None

    # -- bindings ------------------------------------------------------

    def bindings(self, name: str) -> dict[str, Binding]:
        """Top-level names of module `name` (SourceError when it cannot be read)."""
        if name not in self._bindings:
            module = self.find(name)
            if module is None:
                raise SourceError(f"No module named '{name}'")
            self._bindings[name] = (
                {} if module.path is None else dict(_top_level(module, module.tree))
            )
        return self._bindings[name]

    def resolve(self, module: str, attr: str, hops: int = 0) -> Binding | None:
        """What `module.attr` is, following re-exports; None when the module lacks it."""
        found = self.find(module)
        if found is None:
            raise SourceError(f"No module named '{module}'")
        if found.external or hops > _MAX_HOPS:
            return Binding("opaque", module)
        names = self.bindings(module)
        binding = names.get(attr)
        if binding is None and "__getattr__" in names:  # PEP 562: any name may exist
            return Binding("opaque", module)
        if binding is None:
            # `from x import *`: the star entries are stored under "*<n>" keys.
            for key, star in names.items():
                if key.startswith("*"):
                    hit = self._follow(star.target, attr, hops)
                    if hit is not None:
                        return hit
            return None
        if binding.kind == "import" and binding.target == module:
            # `from . import sub` in a package's __init__: only the submodule can answer.
            sub = f"{module}.{_name_of(binding)}"
            return Binding("module", module, target=sub) if self.find(sub) else None
        if binding.kind == "import":
            return self._follow(binding.target, _name_of(binding), hops)
        return binding

    def _follow(self, module: str, attr: str, hops: int = 0) -> Binding | None:
        """`from module import attr`: the name in `module`, or its submodule `module.attr`."""
        if self.find(module) is None:
            raise SourceError(f"No module named '{module}'")
        hit = self.resolve(module, attr, hops + 1)
        if hit is None and self.find(f"{module}.{attr}") is not None:
            return Binding("module", module, target=f"{module}.{attr}")
        return hit


def _name_of(binding: Binding) -> str:
    assert isinstance(binding.node, ast.Constant)
    return str(binding.node.value)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, including those inside `if`, `try` and `with` blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _statements(stmt.body)
            yield from _statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _statements(stmt.body)
            for handler in stmt.handlers:
                yield from _statements(handler.body)
            yield from _statements(stmt.orelse)
            yield from _statements(stmt.finalbody)
        elif isinstance(stmt, ast.With):
            yield from _statements(stmt.body)


def _absolute(module: _Module, level: int, target: str | None) -> str:
    """The absolute module name of a (possibly relative) `from ... import`."""
    if level == 0:
        return target or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{target}" if target else package


def _top_level(module: _Module, tree: ast.Module) -> Iterator[tuple[str, Binding]]:
    stars = 0
    for stmt in _statements(tree.body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield stmt.name, Binding("def", module.name)
        elif isinstance(stmt, ast.ClassDef):
            yield stmt.name, Binding("class", module.name)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for name in _target_names(target):
                    single = isinstance(target, ast.Name)
                    yield name, Binding("value", module.name, stmt.value if single else None)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            for name in _target_names(stmt.target):
                yield name, Binding("value", module.name, stmt.value)
        elif isinstance(stmt, ast.ImportFrom):
            source = _absolute(module, stmt.level, stmt.module)
            for alias in stmt.names:
                if alias.name == "*":
                    stars += 1
                    yield f"*{stars}", Binding("star", module.name, target=source)
                else:
                    # The imported name rides in `node` so `resolve` can follow it.
                    node = ast.Constant(alias.name)
                    yield alias.asname or alias.name, Binding("import", module.name, node, source)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    yield alias.asname, Binding("module", module.name, target=alias.name)
                else:
                    top = alias.name.partition(".")[0]
                    yield top, Binding("module", module.name, target=top)


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


# -- evaluating constants -------------------------------------------------


class Evaluator:
    """Evaluates the constant expressions of one module; `Unknown` for anything else."""

    def __init__(self, index: SourceIndex, module: str, hops: int = 0) -> None:
        self.index = index
        self.module = module
        self.hops = hops

    def _in(self, binding: Binding) -> Evaluator:
        if self.hops > _MAX_HOPS:
            raise Unknown("too many indirections")
        return Evaluator(self.index, binding.module, self.hops + 1)

    def value_of(self, binding: Binding) -> Any:
        if binding.kind != "value" or binding.node is None:
            raise Unknown(f"not a constant ({binding.kind})")
        return self._in(binding).eval(binding.node, {})

    def name(self, name: str, scope: dict[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        try:
            binding = self.index.resolve(self.module, name)
        except SourceError as exc:
            raise Unknown(str(exc)) from None
        if binding is None:
            if name in _PURE_BUILTINS:
                return _PURE_BUILTINS[name]
            raise Unknown(f"name '{name}' is not defined")
        if binding.kind == "module":
            return _ModuleRef(binding.target)
        return self.value_of(binding)

    def eval(self, node: ast.expr, scope: dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node.id, scope)
        if isinstance(node, ast.Attribute):
            owner = self.eval(node.value, scope)
            if not isinstance(owner, _ModuleRef):
                raise Unknown("attribute of a value")
            try:
                binding = self.index.resolve(owner.name, node.attr)
            except SourceError as exc:
                raise Unknown(str(exc)) from None
            if binding is None:
                raise Unknown(f"'{owner.name}' has no '{node.attr}'")
            return self.value_of(binding)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items: list[Any] = []
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    items.extend(self._iterable(element.value, scope))
                else:
                    items.append(self.eval(element, scope))
            kind = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
            return _bounded(kind(items))
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    spec = self.eval(value.format_spec, scope) if value.format_spec else ""
                    inner = self.eval(value.value, scope)
                    converted = {-1: inner, 115: str(inner), 114: repr(inner), 97: ascii(inner)}
                    parts.append(format(converted[value.conversion], spec))
                else:
                    parts.append(str(self.eval(value, scope)))
            return "".join(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult | ast.Sub):
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if isinstance(node.op, ast.Mult) and any(
                isinstance(v, str | tuple | list) for v in (left, right)
            ):
                count = right if isinstance(left, str | tuple | list) else left
                if not isinstance(count, int) or count > _MAX_ITEMS:
                    raise Unknown("repetition too large")
            ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
            return _bounded(ops[type(node.op)](left, right))
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARISONS for op in node.ops):
            left = self.eval(node.left, scope)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.eval(right_node, scope)
                if not _COMPARISONS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            operand = self.eval(node.operand, scope)
            return not operand if isinstance(node.op, ast.Not) else -operand
        if isinstance(node, ast.Call):
            func = self.eval(node.func, scope)
            if not any(func is pure for pure in _PURE_BUILTINS.values()) or node.keywords:
                raise Unknown("a call")
            args = [self.eval(a, scope) for a in node.args if not isinstance(a, ast.Starred)]
            if len(args) != len(node.args):
                raise Unknown("a call with *args")
            if func is range and len(range(*args)) > _MAX_ITEMS:
                raise Unknown("range too large")
            return _bounded(func(*args))
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp):
            items = [self.eval(node.elt, s) for s in self.comprehension(node.generators, scope)]
            return _bounded(set(items) if isinstance(node, ast.SetComp) else tuple(items))
        raise Unknown(f"a {type(node).__name__} expression")

    def _iterable(self, node: ast.expr, scope: dict[str, Any]) -> list[Any]:
        value = self.eval(node, scope)
        if isinstance(value, str | _ModuleRef) or not hasattr(value, "__iter__"):
            raise Unknown("not a collection")
        return list(value)

    def comprehension(
        self, generators: list[ast.comprehension], scope: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The scopes a comprehension's `for ... in ... if ...` clauses produce, in order."""
        if not generators:
            yield scope
            return
        first, rest = generators[0], generators[1:]
        if first.is_async:
            raise Unknown("async comprehension")
        for item in self._iterable(first.iter, scope):
            inner = {**scope, **_unpack(first.target, item)}
            if all(self.eval(cond, inner) for cond in first.ifs):
                yield from self.comprehension(rest, inner)

    def dict_keys(self, node: ast.expr, scope: dict[str, Any]) -> list[Any]:
        """The keys of a dict display, comprehension or module-level dict, values unevaluated."""
        if isinstance(node, ast.Dict):
            keys: list[Any] = []
            for key, value in zip(node.keys, node.values, strict=True):
                keys.extend(
                    self.dict_keys(value, scope) if key is None else [self.eval(key, scope)]
                )
            return keys
        if isinstance(node, ast.DictComp):
            return [self.eval(node.key, s) for s in self.comprehension(node.generators, scope)]
        binding = None
        if isinstance(node, ast.Name) and node.id not in scope:
            binding = self.index.resolve(self.module, node.id)
        elif isinstance(node, ast.Attribute):  # `module.MAPPING`
            owner = self.eval(node.value, scope)
            if isinstance(owner, _ModuleRef):
                binding = self.index.resolve(owner.name, node.attr)
        if binding is not None and binding.kind == "value" and binding.node is not None:
            return self._in(binding).dict_keys(binding.node, {})
        raise Unknown(f"a {type(node).__name__} where a dict of columns was expected")


@dataclass(frozen=True)
class _ModuleRef:
    name: str


def _unpack(target: ast.expr, item: Any) -> dict[str, Any]:
    if isinstance(target, ast.Name):
        return {target.id: item}
    if isinstance(target, ast.Tuple | ast.List):
        values = list(item)
        if len(values) != len(target.elts):
            raise Unknown("unpacking mismatch")
        out: dict[str, Any] = {}
        for element, value in zip(target.elts, values, strict=True):
            out.update(_unpack(element, value))
        return out
    raise Unknown("a complex loop target")


def _bounded(value: Any) -> Any:
    if hasattr(value, "__len__") and len(value) > _MAX_ITEMS:
        raise Unknown("collection too large")
    return value


# -- what validate asks -----------------------------------------------------


def schema_columns(index: SourceIndex, binding: Binding) -> set[str] | None:
    """Column names of a `DataFrameSchema(...)` bound to `binding`, None when not statically known.

    Raises `TypeError` naming what the object is when it is plainly not a schema
    (a function, a class, a literal).
    """
    key = (binding.module, id(binding.node))  # models sharing one schema read it once
    if key not in index.columns:
        index.columns[key] = _schema_columns(index, binding)
    return index.columns[key]


def _schema_columns(index: SourceIndex, binding: Binding) -> set[str] | None:
    evaluator = Evaluator(index, binding.module)
    for _ in range(_MAX_HOPS):
        if binding.kind in ("def", "class", "module"):
            raise TypeError({"def": "function"}.get(binding.kind, binding.kind))
        if binding.kind != "value" or binding.node is None:
            return None
        node = binding.node
        if isinstance(node, ast.Constant):
            raise TypeError(type(node.value).__name__)
        if isinstance(node, ast.Name):  # SCHEMA = OTHER: follow the alias
            found = index.resolve(binding.module, node.id)
            if found is None:
                return None
            binding, evaluator = found, Evaluator(index, found.module)
            continue
        if not (isinstance(node, ast.Call) and _callee(node.func) == "DataFrameSchema"):
            return None  # built some other way: only an import can tell
        columns = next((k.value for k in node.keywords if k.arg == "columns"), None)
        if columns is None and node.args:
            columns = node.args[0]
        if columns is None:
            return set()
        try:
            return {str(key) for key in evaluator.dict_keys(columns, {})}
        except (Unknown, SourceError, TypeError, ValueError):
            return None
    return None


def _callee(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""
