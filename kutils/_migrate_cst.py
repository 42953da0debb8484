"""Small libcst helpers shared by the two `kutils migrate` passes.

Dotted names to and from nodes, a finding record, and the one way both passes
split a `from M import a, b` statement when its names go to different modules
(keeping each name's comments and the statement's parentheses).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import libcst as cst


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the migration report.

    Attributes:
        line: 1-based line in the file as it was before the run (for a
            notebook: the line within its code cell).
        rule: The rule's identifier, e.g. `utils-import` or `fit-generator`.
        message: What was found, and what Keras 3 does with it.
        fix: What to change (or what was changed).
        applied: Whether this run changed the code for it.
        cell: For a notebook, the 0-based index of the code cell; else None.
        fixable: Whether `--fix-keras3` would apply it (when not `applied`).
    """

    line: int
    rule: str
    message: str
    fix: str
    applied: bool
    cell: int | None = None
    fixable: bool = False


def dotted_name(node: cst.BaseExpression | cst.ImportFrom | None) -> str | None:
    """Returns `a.b.c` for a Name/Attribute chain (or an absolute ImportFrom's module), else None."""
    if isinstance(node, cst.ImportFrom):
        return None if node.relative else dotted_name(node.module)
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted_name(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def dotted_node(dotted: str) -> cst.Name | cst.Attribute:
    """Builds the Name/Attribute chain for `a.b.c`."""
    head, *rest = dotted.split(".")
    node: cst.Name | cst.Attribute = cst.Name(head)
    for part in rest:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def code_of(node: cst.CSTNode) -> str:
    """The source text of a node, on one line (for report messages)."""
    return " ".join(cst.Module(body=[]).code_for_node(node).split())


def _closing(
    whitespace: cst.BaseParenthesizableWhitespace, closing: cst.BaseParenthesizableWhitespace
) -> Any:
    """`whitespace` (keeping its comment) ending the way the original list ended before its `)`."""
    if not isinstance(whitespace, cst.ParenthesizedWhitespace):
        return whitespace
    if isinstance(closing, cst.ParenthesizedWhitespace):
        return whitespace.with_changes(indent=closing.indent, last_line=closing.last_line)
    return whitespace.with_changes(last_line=cst.SimpleWhitespace(""))


def _with_last_comma_as_in(
    aliases: list[cst.ImportAlias], original: Sequence[cst.ImportAlias], stmt: cst.ImportFrom
) -> tuple[list[cst.ImportAlias], cst.ImportFrom]:
    """Ends a part's alias list the way the original statement's list ended.

    A trailing comma only if the original had one, and the `)` on the line
    and column where it was.
    """
    last, original_last = aliases[-1], original[-1]
    if last is original_last:
        return aliases, stmt
    if isinstance(original_last.comma, cst.Comma):
        if isinstance(last.comma, cst.Comma):
            closing = _closing(last.comma.whitespace_after, original_last.comma.whitespace_after)
            aliases[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=closing))
        return aliases, stmt
    if isinstance(last.comma, cst.Comma) and stmt.rpar is not None:
        # Keep a comment that sat after the dropped comma, before the `)`.
        closing = _closing(last.comma.whitespace_after, stmt.rpar.whitespace_before)
        stmt = stmt.with_changes(rpar=stmt.rpar.with_changes(whitespace_before=closing))
    aliases[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return aliases, stmt


def split_from_import(
    stmt: cst.ImportFrom, module_of: Callable[[cst.ImportAlias], str | None]
) -> list[cst.ImportFrom]:
    """Splits `from M import ...` by the module each name should come from.

    Args:
        stmt: A from-import with named (not star) aliases.
        module_of: The new module of an alias, or None to leave it in `M`.

    Returns:
        The statements to write in place of `stmt`, in order: first the one
        keeping `M` (if any names stay), then one per new module in the order
        the names appeared. Each keeps its names' own formatting and comments.
        `[stmt]` when nothing moves.
    """
    assert not isinstance(stmt.names, cst.ImportStar)
    groups: dict[str | None, list[cst.ImportAlias]] = {}
    for alias in stmt.names:
        groups.setdefault(module_of(alias), []).append(alias)
    if list(groups) == [None]:
        return [stmt]
    out: list[cst.ImportFrom] = []
    # The statement keeping M (if any) stays first, where the reader saw it.
    for module, aliases in sorted(groups.items(), key=lambda group: group[0] is not None):
        part = stmt if module is None else stmt.with_changes(module=dotted_node(module), relative=())
        if out:
            part = part.with_changes(whitespace_after_from=cst.SimpleWhitespace(" "))
        fixed, part = _with_last_comma_as_in(list(aliases), stmt.names, part)
        out.append(part.with_changes(names=fixed))
    return out


class ImportSplitter(cst.CSTTransformer):
    """A transformer that may replace each import statement by several.

    Subclasses implement `replace_import`; a statement that becomes several
    gets lines of its own after the first (same block, same indentation), or
    stays on its line with `; ` when it shared the line with others.
    """

    def replace_import(self, original: cst.Import | cst.ImportFrom) -> list[cst.BaseSmallStatement] | None:
        """The statements to write instead of `original` (a node of the input tree), or None to keep it."""
        raise NotImplementedError

    def _small(
        self, original: cst.BaseSmallStatement, updated: cst.BaseSmallStatement
    ) -> list[cst.BaseSmallStatement]:
        if not isinstance(original, cst.Import | cst.ImportFrom):
            return [updated]
        replaced = self.replace_import(original)
        if replaced is None:
            return [updated]
        last = original.semicolon
        return [
            s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT if i < len(replaced) - 1 else last)
            for i, s in enumerate(replaced)
        ]

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        pairs = zip(original_node.body, updated_node.body, strict=True)
        if len(updated_node.body) != 1:
            return updated_node.with_changes(body=[s for o, u in pairs for s in self._small(o, u)])
        first, *extra = self._small(*next(pairs))
        if not extra:
            return updated_node.with_changes(body=[first])
        head = updated_node.with_changes(body=[first.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
        return cst.FlattenSentinel([head, *(cst.SimpleStatementLine(body=[s]) for s in extra)])

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        pairs = zip(original_node.body, updated_node.body, strict=True)
        return updated_node.with_changes(body=[s for o, u in pairs for s in self._small(o, u)])


_VISITOR_NAMES: dict[type, tuple[str, ...]] = {}


@contextlib.contextmanager
def cached_visitor_lookup() -> Iterator[None]:
    """Speeds up libcst's metadata providers while the block runs (same results).

    For every file, libcst finds each metadata provider's `visit_*`/`leave_*`
    methods with `inspect.getmembers` on a new provider object: a third of the
    time of a run over small files. The names depend only on the provider's
    class, so inside this block they are looked up once per class and bound
    to each new object; libcst's own lookup is back afterwards.
    """
    batchable = cst.BatchableCSTVisitor
    original = batchable.get_visitors

    def get_visitors(self: cst.BatchableCSTVisitor) -> Mapping[str, Any]:
        names = _VISITOR_NAMES.get(type(self))
        if names is None:
            names = _VISITOR_NAMES[type(self)] = tuple(original(self))
        return {name: getattr(self, name) for name in names}

    batchable.get_visitors = get_visitors  # type: ignore[method-assign]
    try:
        yield
    finally:
        batchable.get_visitors = original  # type: ignore[method-assign]
