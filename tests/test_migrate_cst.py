"""The libcst helpers of `kutils migrate`: the provider-method cache changes speed, not results."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, ScopeProvider

from kutils._migrate_cst import cached_visitor_lookup

SOURCE = (
    "import keras\nfrom keras import utils\n\ndef f(utils):\n    return utils.x\n\n"
    "y = keras.utils.to_categorical(1)\n"
)


class _Recorder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider, ScopeProvider)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def visit_Attribute(self, node: cst.Attribute) -> None:
        names = sorted(q.name for q in self.get_metadata(QualifiedNameProvider, node, set()))
        scope = type(self.get_metadata(ScopeProvider, node, None)).__name__
        self.seen.append(f"{self.get_metadata(PositionProvider, node).start} {names} {scope}")


def _metadata() -> list[str]:
    recorder = _Recorder()
    MetadataWrapper(cst.parse_module(SOURCE)).visit(recorder)
    return recorder.seen


def test_the_cached_lookup_gives_the_same_metadata_and_restores_libcst():
    original = cst.BatchableCSTVisitor.get_visitors
    plain = _metadata()
    with cached_visitor_lookup():
        assert cst.BatchableCSTVisitor.get_visitors is not original
        first, second = _metadata(), _metadata()  # the second run uses the cache
    assert cst.BatchableCSTVisitor.get_visitors is original
    assert first == second == plain
    assert any("keras.utils.to_categorical" in line for line in plain)
