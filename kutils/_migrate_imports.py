"""The import pass of `kutils migrate`: Keras 2 `keras.utils` uses become kutils uses.

Works on a libcst tree, so every byte it does not rewrite stays as it was.
Which names move is read from the installed kutils package (its `__all__`
and its Keras 2 path modules such as `kutils.np_utils`), never from a list
kept here. The forms handled:

- `from keras.utils[.np_utils|...] import X [as Y]`: the statement moves to
  kutils, or is split when some names stay behind;
- module bindings (`from keras import utils`, `from keras.utils import np_utils`,
  `import keras.utils as ku`): the import itself moves when every use of the
  name is something kutils provides; otherwise each provided use is rewritten;
- attribute uses through a package binding (`keras.utils.X` after
  `import keras`, `tf.keras.utils.X` after `import tensorflow as tf`): each
  becomes `kutils.X`, and `import kutils` is added once, where imports live;
- star imports: `from kutils import *` is added after `from keras.utils import *`.
The same for `tensorflow.keras.utils` and `tensorflow.python.keras.utils`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Mapping

import libcst as cst
from libcst.metadata import (
    MetadataWrapper,
    PositionProvider,
    QualifiedNameProvider,
    ScopeProvider,
)
from libcst.metadata.scope_provider import ImportAssignment

from ._migrate_cst import Finding, ImportSplitter, code_of, dotted_name, dotted_node, split_from_import
from ._migrate_rules import KERAS3_UTILS_SAME_BEHAVIOUR, KERAS20_SUBMODULE_HOMES, UTILS_PACKAGES


@dataclasses.dataclass(frozen=True)
class Catalog:
    """What kutils provides, and which of it a run migrates.

    Attributes:
        top_level: Names `from kutils import X` gives.
        submodules: Keras 2 path module name (e.g. `np_utils`) -> the names
            `kutils.<module>` gives.
        only_removed: Migrate only what Keras 3 removed or changed in behaviour.
    """

    top_level: frozenset[str]
    submodules: Mapping[str, frozenset[str]]
    only_removed: bool = False

    def target(self, dotted: str) -> str | None:
        """The kutils path for a Keras 2 utils path, or None to leave it.

        Args:
            dotted: A fully qualified path, e.g. `keras.utils.to_categorical`,
                `tensorflow.keras.utils.np_utils` or `keras.utils`.

        Returns:
            E.g. `kutils.to_categorical`, `kutils.np_utils`, `kutils`; None
            when the path is no utils path or kutils lacks the name.
        """
        rest = _utils_rest(dotted)
        if rest is None:
            return None
        if not rest:
            return "kutils"
        head = KERAS20_SUBMODULE_HOMES.get(rest[0], rest[0])
        if len(rest) == 1:
            if head in self.submodules:
                return f"kutils.{head}"
            if rest[0] not in self.top_level:
                return None
            if self.only_removed and rest[0] in KERAS3_UTILS_SAME_BEHAVIOUR:
                return None
            return f"kutils.{rest[0]}"
        if len(rest) == 2 and rest[1] in self.submodules.get(head, ()):
            return f"kutils.{head}.{rest[1]}"
        return None


def _utils_rest(dotted: str) -> tuple[str, ...] | None:
    """The parts after a Keras utils package (`()` for the package), or None."""
    for package in UTILS_PACKAGES:
        if dotted == package:
            return ()
        if dotted.startswith(package + "."):
            return tuple(dotted[len(package) + 1 :].split("."))
    return None


@functools.cache
def catalog_from_package(only_removed: bool = False) -> Catalog:
    """Reads what the installed kutils provides.

    Top-level names come from `kutils.__all__`; Keras 2 path modules are the
    public `kutils.*_utils` modules, each with its own `__all__`.

    Args:
        only_removed: See `Catalog.only_removed`.

    Returns:
        The catalog.
    """
    import kutils

    submodules = {}
    for info in pkgutil.iter_modules(kutils.__path__):
        if info.name.endswith("_utils") and not info.name.startswith("_"):
            module = importlib.import_module(f"kutils.{info.name}")
            submodules[info.name] = frozenset(module.__all__)
    return Catalog(frozenset(kutils.__all__), submodules, only_removed)


def _binding_path(stmt: cst.Import | cst.ImportFrom, alias: cst.ImportAlias) -> str | None:
    """The module path an import alias binds (`keras.utils` for `from keras import utils`)."""
    name = dotted_name(alias.name)
    if isinstance(stmt, cst.Import) or name is None:
        return name
    module = dotted_name(stmt)
    return None if module is None else f"{module}.{name}"


def _is_keras2_path_module(name: str, catalog: Catalog) -> bool:
    """Whether `keras.utils.<name>` is a Keras 2 path module (all of which Keras 3 dropped)."""
    return name in catalog.submodules or name in KERAS20_SUBMODULE_HOMES or name.endswith("_utils")


def _is_module_path(dotted: str, catalog: Catalog) -> bool:
    """Whether a utils path names a module (the package or a Keras 2 submodule)."""
    target = catalog.target(dotted)
    if target is None:
        return False
    parts = target.split(".")
    return len(parts) == 1 or (len(parts) == 2 and parts[1] in catalog.submodules)


class _Collector(cst.CSTVisitor):
    """Finds the utils uses to rewrite and decides, per module binding, whether its import moves."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider, ScopeProvider, PositionProvider)

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()
        self.catalog = catalog
        self.uses: dict[cst.Attribute, str] = {}  # use -> kutils path
        self.chain_nodes: set[cst.CSTNode] = set()  # every node inside a use's dotted chain
        self.bindings: list[tuple[cst.ImportAlias, list[cst.CSTNode]]] = []  # alias, its references
        self.lines: dict[cst.CSTNode, int] = {}
        self.kutils_taken = False  # a non-import `kutils` name exists somewhere
        self.stars: set[str] = set()  # modules star-imported

    def _line(self, node: cst.CSTNode) -> None:
        self.lines[node] = self.get_metadata(PositionProvider, node).start.line  # pyright: ignore[reportAttributeAccessIssue]

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        names = self.get_metadata(QualifiedNameProvider, node, set())
        targets = {self.catalog.target(q.name) for q in names}
        if len(targets) != 1 or None in targets or _utils_rest(next(iter(names)).name) == ():
            return True
        target = targets.pop()
        assert target is not None
        self.uses[node] = target
        self._line(node)
        self.chain_nodes |= _chain_nodes(node)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value != "kutils" or self.kutils_taken:
            return
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is not None:
            assignments = scope.assignments["kutils"]
            self.kutils_taken = any(not isinstance(a, ImportAssignment) for a in assignments)

    def _visit_import(self, node: cst.Import | cst.ImportFrom) -> None:
        self._line(node)
        if isinstance(node.names, cst.ImportStar):  # only an ImportFrom has one
            self.stars.add((dotted_name(node) if isinstance(node, cst.ImportFrom) else None) or "")
            return
        scope = self.get_metadata(ScopeProvider, node)
        for alias in node.names:
            path = _binding_path(node, alias)
            if path is None or not _is_module_path(path, self.catalog):
                continue
            bound = alias.evaluated_alias or alias.evaluated_name
            references: list[cst.CSTNode] = [
                access.node
                for assignment in (scope.assignments[bound] if scope is not None else ())  # pyright: ignore[reportAttributeAccessIssue]
                if getattr(assignment, "node", None) is node
                for access in assignment.references
            ]
            self.bindings.append((alias, references))

    def visit_Import(self, node: cst.Import) -> None:
        self._visit_import(node)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._visit_import(node)

    def moving_bindings(self) -> set[cst.ImportAlias]:
        """The module-binding aliases whose every use kutils provides: their import moves."""
        return {alias for alias, refs in self.bindings if all(ref in self.chain_nodes for ref in refs)}


class _Rewriter(ImportSplitter):
    """Applies the collector's decisions and records what changed."""

    def __init__(self, collector: _Collector, kutils_name: str) -> None:
        super().__init__()
        self.catalog = collector.catalog
        self.lines = collector.lines
        self.moving = collector.moving_bindings()
        self.kutils_name = kutils_name
        # Uses that go through a moving binding keep their text, except after
        # `import keras.utils[.np_utils]`, which becomes `import kutils`.
        kept_roots = {
            ref
            for alias, refs in collector.bindings
            if alias in self.moving and not _binds_root_package(alias)
            for ref in refs
        }
        self.uses = {
            node: target for node, target in collector.uses.items() if not (_chain_nodes(node) & kept_roots)
        }
        self.stars = collector.stars
        self.findings: list[Finding] = []
        self.needs_kutils = False

    def _report(self, line: int, before: cst.CSTNode | str, after: cst.CSTNode | str) -> None:
        old = before if isinstance(before, str) else code_of(before)
        new = after if isinstance(after, str) else code_of(after)
        self.findings.append(Finding(line, "utils-import", old, new, True))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        target = self.uses.get(original_node)
        if target is None:
            return updated_node
        self.needs_kutils = True
        new = dotted_node(self.kutils_name + target[len("kutils") :])
        self._report(self.lines[original_node], original_node, new)
        return new

    def _import_statements(self, stmt: cst.Import | cst.ImportFrom) -> list[cst.BaseSmallStatement]:
        if isinstance(stmt, cst.Import):
            return [self._import(stmt)]
        return self._import_from(stmt)

    def _import(self, stmt: cst.Import) -> cst.Import:
        aliases = []
        for alias in stmt.names:
            path = dotted_name(alias.name)
            target = None if path is None else self.catalog.target(path)
            if alias in self.moving and target is not None:
                if alias.asname is None:
                    # `import keras.utils[.np_utils]`: its uses were rewritten to kutils.
                    alias = alias.with_changes(name=cst.Name("kutils"))
                    if self.kutils_name != "kutils":
                        alias = alias.with_changes(asname=cst.AsName(name=cst.Name(self.kutils_name)))
                else:
                    alias = alias.with_changes(name=dotted_node(target))
            aliases.append(alias)
        return stmt.with_changes(names=aliases)

    def _from_target(self, stmt: cst.ImportFrom, alias: cst.ImportAlias) -> str | None:
        """The kutils module a from-imported name moves to, or None to stay."""
        path = _binding_path(stmt, alias) or ""
        target = self.catalog.target(path)
        if target is None or (_is_module_path(path, self.catalog) and alias not in self.moving):
            return None
        return target.rpartition(".")[0] or "kutils"

    def _import_from(self, stmt: cst.ImportFrom) -> list[cst.BaseSmallStatement]:
        module = dotted_name(stmt)
        if module is None or module.split(".")[0] == "kutils":
            return [stmt]
        if isinstance(stmt.names, cst.ImportStar):
            target = self.catalog.target(module)
            if target is None:
                return [stmt]
            star = stmt.with_changes(module=dotted_node(target))
            if target != "kutils":  # a Keras 2 path module: Keras 3 has none of them
                return [star]
            if "kutils" in self.stars:
                return [stmt]
            return [stmt, star.with_changes(whitespace_after_from=cst.SimpleWhitespace(" "))]
        parts = split_from_import(stmt, lambda alias: self._from_target(stmt, alias))
        if self.catalog.target(module) is not None:
            return list(parts)
        # `from keras import utils [as u]` moving: `import kutils as utils`.
        out: list[cst.BaseSmallStatement] = []
        for part in parts:
            if dotted_name(part) != "kutils" or isinstance(part.names, cst.ImportStar):
                out.append(part)
                continue
            for alias in part.names:
                bound = alias.asname.name if alias.asname else alias.name
                assert isinstance(bound, cst.Name)
                out.append(cst.Import(names=[cst.ImportAlias(cst.Name("kutils"), cst.AsName(bound))]))
        return out

    def _report_left(self, original: cst.Import | cst.ImportFrom) -> None:
        """Reports names that stay on a Keras 2 path module, which Keras 3 does not have."""
        if isinstance(original.names, cst.ImportStar) or (
            isinstance(original, cst.ImportFrom) and original.relative
        ):
            return
        for alias in original.names:
            path = _binding_path(original, alias) or ""
            rest = _utils_rest(path)
            if not rest or not _is_keras2_path_module(rest[0], self.catalog):
                continue
            if isinstance(original, cst.Import) or len(rest) == 1:
                stays = alias not in self.moving
            else:
                stays = self._from_target(original, alias) is None
            if not stays:
                continue
            module = path if len(rest) == 1 else path.rpartition(".")[0]
            if KERAS20_SUBMODULE_HOMES.get(rest[0], rest[0]) not in self.catalog.submodules:
                what = f"{path} stays: kutils has no {rest[0]} module"
                fix = "import what it gives from where Keras 3 keeps it, or write it"
            elif len(rest) == 1:
                what = f"{path} stays: it is used for more than kutils names"
                fix = "rewrite those uses for Keras 3, then run kutils migrate again"
            else:
                what = f"{rest[1]} stays on {module}: kutils.{rest[0]} has no {rest[1]}"
                fix = (
                    f"import {rest[1]} from where Keras 3 keeps it (keras.utils, keras.ops, ...) or write it"
                )
            message = f"{what}; Keras 3 has no {module} (ModuleNotFoundError)"
            self.findings.append(Finding(self.lines[original], "utils-left", message, fix, False))

    def replace_import(self, original: cst.Import | cst.ImportFrom) -> list[cst.BaseSmallStatement] | None:
        self._report_left(original)
        replaced = self._import_statements(original)
        if len(replaced) == 1 and replaced[0].deep_equals(original):
            return None
        self._report(self.lines[original], original, "; ".join(map(code_of, replaced)))
        return replaced


def migrate_imports(wrapper: MetadataWrapper, catalog: Catalog) -> tuple[cst.Module, list[Finding]]:
    """Rewrites a module's Keras 2 utils uses to kutils.

    Args:
        wrapper: The parsed file, with its metadata.
        catalog: What kutils provides (see `catalog_from_package`).

    Returns:
        `(new_module, findings)`: one finding per rewritten statement or use,
        with its line in `wrapper.module`.
    """
    collector = _Collector(catalog)
    wrapper.visit(collector)
    kutils_name = "_kutils" if collector.kutils_taken else "kutils"
    rewriter = _Rewriter(collector, kutils_name)
    new = wrapper.module.visit(rewriter)
    if rewriter.needs_kutils:
        new = _with_kutils_import(new, kutils_name)
    return new, sorted(rewriter.findings, key=lambda finding: finding.line)


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Import | cst.ImportFrom) for small in stmt.body
    )


def _holds_imports(stmt: cst.CSTNode) -> bool:
    """An import line, or a try/if block at module level whose body imports."""
    if _is_import_line(stmt):
        return True
    if isinstance(stmt, cst.Try | cst.If) and isinstance(stmt.body, cst.IndentedBlock):
        return any(_is_import_line(inner) for inner in stmt.body.body)
    return False


def _imports_kutils(stmt: cst.CSTNode, name: str) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, cst.Import):
            for alias in small.names:
                bound = alias.evaluated_alias or alias.evaluated_name
                if alias.evaluated_name.split(".")[0] == "kutils" and bound.split(".")[0] == name:
                    return True
    return False


class _NameFinder(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found = False

    def visit_Name(self, node: cst.Name) -> None:
        self.found = self.found or node.value == self.name


def _uses_name(stmt: cst.CSTNode, name: str) -> bool:
    finder = _NameFinder(name)
    stmt.visit(finder)
    return finder.found


def _is_preamble(stmt: cst.CSTNode) -> bool:
    """A module docstring or a `from __future__ import`: new imports go after these."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.ImportFrom):
        return dotted_name(small) == "__future__"
    return isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString | cst.ConcatenatedString)


def _with_kutils_import(module: cst.Module, name: str) -> cst.Module:
    """Adds `import kutils` once at module level: after the imports that come before its first use."""
    body = list(module.body)
    if any(_imports_kutils(stmt, name) for stmt in body):
        return module
    first_use = next(
        (i for i, stmt in enumerate(body) if not _is_import_line(stmt) and _uses_name(stmt, name)), len(body)
    )
    anchors = [i for i in range(first_use) if _holds_imports(body[i])]
    line = cst.SimpleStatementLine(
        body=[
            cst.Import(
                [
                    cst.ImportAlias(
                        cst.Name("kutils"), cst.AsName(cst.Name(name)) if name != "kutils" else None
                    )
                ]
            )
        ]
    )
    if anchors:
        body.insert(anchors[-1] + 1, line)
        return module.with_changes(body=body)
    index = 0
    while index < first_use and _is_preamble(body[index]):
        index += 1
    if index < len(body):
        # Comments above the first statement stay above the new import.
        line = line.with_changes(leading_lines=body[index].leading_lines)
        body[index] = body[index].with_changes(leading_lines=())
    body.insert(index, line)
    return module.with_changes(body=body)


def _binds_root_package(alias: cst.ImportAlias) -> bool:
    """`import a.b.c` (no `as`): binds `a`, not the module it names."""
    return alias.asname is None and isinstance(alias.name, cst.Attribute)


def _chain_nodes(node: cst.BaseExpression) -> set[cst.CSTNode]:
    nodes: set[cst.CSTNode] = set()
    while isinstance(node, cst.Attribute):
        nodes.add(node)
        node = node.value
    nodes.add(node)
    return nodes
