"""The Keras 3 pass of `kutils migrate`: reports what Keras 3 breaks outside keras.utils.

Each hit becomes a report line with its fix (rules in `kutils._migrate_rules`);
with `fix=True` the mechanical ones are rewritten: method and keyword renames,
and import paths (`keras.layers.merge` -> `keras.layers`). The pass never adds
or removes a line, so its line numbers are the file's.
"""

from __future__ import annotations

import dataclasses

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider

from ._migrate_cst import Finding, ImportSplitter, code_of, dotted_name, dotted_node, split_from_import
from ._migrate_rules import (
    BACKEND_REPLACEMENTS,
    KERAS2_BACKEND_SESSION,
    KERAS2_LAYER_SUBMODULES,
    KERAS3_BACKEND,
    KERAS_ENGINE_NAMES,
    KERAS_ENGINE_SUBMODULES,
    KERAS_ROOTS,
    LAYERS_REMOVED,
    LAYERS_RENAMED,
    OPS_NAMESAKES,
    RULES,
)

_GENERATOR_METHODS = {
    "fit_generator": "fit",
    "evaluate_generator": "evaluate",
    "predict_generator": "predict",
}
_TRAINING_METHODS = frozenset({"fit", "evaluate", "predict", *_GENERATOR_METHODS})
_WORKER_ARGUMENTS = frozenset({"workers", "use_multiprocessing", "max_queue_size"})
# Words one of the rules needs to see in a file (every path rule needs "keras").
TRIGGERS = (
    "keras",
    "_generator",
    "predict_classes",
    "predict_proba",
    "save_weights",
    "nb_epoch",
    *_WORKER_ARGUMENTS,
)


@dataclasses.dataclass(frozen=True)
class _PathHit:
    rule: str
    fix: str
    replacement: str | None  # the Keras 3 path, when the fix is a mechanical path change


def _split_root(path: str) -> tuple[str, list[str]] | None:
    for root in sorted(KERAS_ROOTS, key=len, reverse=True):
        if path.startswith(root + "."):
            return root, path[len(root) + 1 :].split(".")
    return None


def classify_path(path: str) -> _PathHit | None:
    """The Keras 3 rule a Keras 2 module path hits (e.g. `keras.layers.merge.add`), or None."""
    split = _split_root(path)
    if split is None:
        return None
    root, parts = split
    match parts:
        case ["layers", sub, name] if sub in KERAS2_LAYER_SUBMODULES:
            inner = classify_path(f"{root}.layers.{name}")
            if inner is not None and inner.replacement is None:
                return inner
            replacement = f"{root}.layers.{name}" if inner is None else str(inner.replacement)
            return _PathHit("layers-submodule", replacement, replacement)
        case ["layers", sub] if sub in KERAS2_LAYER_SUBMODULES:
            return _PathHit("layers-submodule", f"import the names from {root}.layers", None)
        case ["layers", name] if name in LAYERS_RENAMED:
            replacement = f"{root}.layers.{LAYERS_RENAMED[name]}"
            return _PathHit("layer-renamed", replacement, replacement)
        case ["layers", name] if name in LAYERS_REMOVED:
            return _PathHit("layer-removed", LAYERS_REMOVED[name], None)
        case ["engine", *rest] if rest and rest[-1] not in KERAS_ENGINE_SUBMODULES:
            home = KERAS_ENGINE_NAMES.get(rest[-1])
            if home is None:
                return _PathHit("keras-engine", f"{root}.Model (Network is a functional Model)", None)
            replacement = home if home.startswith("kutils.") else root + home[len("keras") :]
            return _PathHit("keras-engine", replacement, replacement)
        case ["objectives", *rest]:
            replacement = ".".join([root, "losses", *rest])
            return _PathHit("objectives", replacement, replacement)
        case ["wrappers", "scikit_learn", *_]:
            return _PathHit("scikit-learn-wrappers", RULES["scikit-learn-wrappers"].fix, None)
        case ["preprocessing", "text", *_] | ["preprocessing", "image", "ImageDataGenerator"]:
            return _PathHit("preprocessing-removed", RULES["preprocessing-removed"].fix, None)
        case ["backend", name] if name in KERAS2_BACKEND_SESSION:
            return _PathHit("backend-session", RULES["backend-session"].fix, None)
        case ["backend", name] if name not in KERAS3_BACKEND and not name.startswith("_"):
            fix = BACKEND_REPLACEMENTS.get(name) or (
                f"keras.ops.{name}" if name in OPS_NAMESAKES else "no keras.backend equivalent: see keras.ops"
            )
            return _PathHit("backend-function", fix, None)
    return None


def _rewrite_chain(node: cst.Attribute, path: str, replacement: str) -> cst.BaseExpression | None:
    """`node` (which spells `path`, maybe through an alias) spelled as `replacement`, or None.

    Possible when the parts that change are written out in `node`, e.g.
    `layers.merge.add` -> `layers.add`, but not `merge.add` (the alias hides them).
    """
    old, new = path.split("."), replacement.split(".")
    common = 0
    while common < min(len(old), len(new)) and old[common] == new[common]:
        common += 1
    written = dotted_name(node)
    if written is None:
        return None
    parts = written.split(".")
    changed = len(old) - common
    if len(parts) <= changed or common == 0:
        return None
    return dotted_node(".".join(parts[: len(parts) - changed] + new[common:]))


class _Keras3Pass(ImportSplitter):
    METADATA_DEPENDENCIES = (QualifiedNameProvider, PositionProvider)

    def __init__(self, fix: bool) -> None:
        super().__init__()
        self.fix = fix
        self.findings: list[Finding] = []

    def _report(
        self, node: cst.CSTNode, rule: str, what: str, fix: str, applied: bool, fixable: bool | None = None
    ) -> None:
        line = self.get_metadata(PositionProvider, node).start.line  # pyright: ignore[reportAttributeAccessIssue]
        message = f"{what}: {RULES[rule].breaks}"
        fixable = RULES[rule].mechanical if fixable is None else fixable
        self.findings.append(Finding(line, rule, message, fix, applied, fixable=fixable))

    def _path(self, node: cst.CSTNode) -> str | None:
        names = self.get_metadata(QualifiedNameProvider, node, set())
        return next(iter(names)).name if len(names) == 1 else None

    # Attribute uses: keras.layers.merge.add, K.set_session, ...
    def visit_Attribute(self, node: cst.Attribute) -> bool:
        path = self._path(node)
        return path is None or classify_path(path) is None

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        path = self._path(original_node)
        hit = None if path is None else classify_path(path)
        if hit is None or path is None:
            return updated_node
        new = None
        if self.fix and hit.replacement is not None and not hit.replacement.startswith("kutils."):
            new = _rewrite_chain(original_node, path, hit.replacement)
        fixable = (
            hit.replacement is not None and _rewrite_chain(original_node, path, hit.replacement) is not None
        )
        self._report(original_node, hit.rule, code_of(original_node), hit.fix, new is not None, fixable)
        return updated_node if new is None else new

    # Calls: method renames and keyword renames.
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _TRAINING_METHODS | {
            "predict_classes",
            "predict_proba",
            "save_weights",
        }:
            return self._method_call(original_node, updated_node, func.attr.value)
        path = self._path(func)
        split = None if path is None else _split_root(path)
        if split is None:
            return updated_node
        _root, parts = split
        if parts[0] == "optimizers" and parts[-1][:1].isupper():
            updated_node = self._rename_keyword(
                original_node, updated_node, "lr", "learning_rate", "optimizer-lr"
            )
            self._flag_keyword(original_node, "decay", "optimizer-decay")
        elif parts[-1] == "Model" and parts[0] in {"Model", "models", "engine"}:
            updated_node = self._rename_keyword(
                original_node, updated_node, "input", "inputs", "model-input-output"
            )
            updated_node = self._rename_keyword(
                original_node, updated_node, "output", "outputs", "model-input-output"
            )
        elif parts[-1] == "LeakyReLU" and parts[0] == "layers":
            updated_node = self._rename_keyword(
                original_node, updated_node, "alpha", "negative_slope", "leakyrelu-alpha"
            )
        return updated_node

    def _method_call(self, original: cst.Call, updated: cst.Call, method: str) -> cst.Call:
        what = code_of(original.func)
        if method in {"predict_classes", "predict_proba"}:
            self._report(original, "predict_classes", what, RULES["predict_classes"].fix, False)
            return updated
        if method == "save_weights":
            first = original.args[0].value if original.args else None
            name = first.evaluated_value if isinstance(first, cst.SimpleString) else None
            if isinstance(name, str) and not name.endswith(".weights.h5"):
                self._report(
                    original,
                    "save-weights-suffix",
                    code_of(original),
                    RULES["save-weights-suffix"].fix,
                    False,
                )
            return updated
        keywords = {arg.keyword.value for arg in original.args if arg.keyword is not None}
        if keywords & _WORKER_ARGUMENTS:
            self._report(original, "workers-arguments", what, RULES["workers-arguments"].fix, False)
        updated = self._rename_keyword(original, updated, "nb_epoch", "epochs", "nb_epoch")
        if method not in _GENERATOR_METHODS:
            return updated
        new_method = _GENERATOR_METHODS[method]
        positional = sum(1 for arg in original.args if arg.keyword is None and not arg.star)
        mechanical = positional <= 1 and not keywords & _WORKER_ARGUMENTS
        fix = f".{new_method}(...)"
        if positional > 1:
            fix += f"; {RULES['positional-generator-arguments'].fix}"
        if keywords & _WORKER_ARGUMENTS:
            fix += "; first move workers= & co. to the Sequence (see workers-arguments)"
        applied = self.fix and mechanical
        self._report(original, method, what, fix, applied, mechanical)
        if not applied:
            return updated
        assert isinstance(updated.func, cst.Attribute)
        return updated.with_changes(func=updated.func.with_changes(attr=cst.Name(new_method)))

    def _flag_keyword(self, original: cst.Call, keyword: str, rule: str) -> None:
        if any(arg.keyword is not None and arg.keyword.value == keyword for arg in original.args):
            self._report(original, rule, f"{code_of(original.func)}({keyword}=...)", RULES[rule].fix, False)

    def _rename_keyword(
        self, original: cst.Call, updated: cst.Call, old: str, new: str, rule: str
    ) -> cst.Call:
        if not any(arg.keyword is not None and arg.keyword.value == old for arg in original.args):
            return updated
        self._report(original, rule, f"{code_of(original.func)}({old}=...)", f"{new}=", self.fix)
        if not self.fix:
            return updated
        args = [
            arg.with_changes(keyword=cst.Name(new))
            if arg.keyword is not None and arg.keyword.value == old
            else arg
            for arg in updated.args
        ]
        return updated.with_changes(args=args)

    # Imports: `from keras.layers.merge import add`, `import keras.engine.topology`, ...
    def replace_import(self, original: cst.Import | cst.ImportFrom) -> list[cst.BaseSmallStatement] | None:
        if isinstance(original, cst.Import):
            for alias in original.names:
                hit = classify_path(dotted_name(alias.name) or "")
                if hit is not None:
                    self._report(original, hit.rule, code_of(original), hit.fix, False, False)
            return None
        module = dotted_name(original)
        if module is None:
            return None
        if isinstance(original.names, cst.ImportStar):
            hit = classify_path(module)
            if hit is not None:
                self._report(original, hit.rule, code_of(original), hit.fix, False, False)
            return None
        moves: dict[int, str] = {}
        renamed = []
        for alias in original.names:
            hit = classify_path(f"{module}.{alias.evaluated_name}")
            if hit is None:
                renamed.append(alias)
                continue
            applied = self.fix and hit.replacement is not None
            self._report(
                original,
                hit.rule,
                f"from {module} import {alias.evaluated_name}",
                hit.fix,
                applied,
                hit.replacement is not None,
            )
            if not applied or hit.replacement is None:
                renamed.append(alias)
                continue
            new_module, _, new_name = hit.replacement.rpartition(".")
            if new_name != alias.evaluated_name:
                bound = alias.asname or cst.AsName(name=cst.Name(alias.evaluated_name))
                alias = alias.with_changes(name=cst.Name(new_name), asname=bound)
            moves[id(alias)] = new_module
            renamed.append(alias)
        if not moves:
            return None
        return list(
            split_from_import(original.with_changes(names=renamed), lambda alias: moves.get(id(alias)))
        )


def check_keras3(wrapper: MetadataWrapper, fix: bool) -> tuple[cst.Module, list[Finding]]:
    """Reports (and with `fix`, rewrites the mechanical part of) what Keras 3 breaks outside utils.

    Args:
        wrapper: The parsed file, with its metadata (shared with the import pass).
        fix: Apply the mechanical fixes.

    Returns:
        `(module, findings)`; the module is `wrapper.module` unless a fix was applied.
    """
    pass_ = _Keras3Pass(fix)
    new = wrapper.visit(pass_)
    findings = sorted(pass_.findings, key=lambda finding: finding.line)
    return (new if any(finding.applied for finding in findings) else wrapper.module), findings
