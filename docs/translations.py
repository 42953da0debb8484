"""Work on the Japanese translation catalogs (`docs/locale/ja/LC_MESSAGES/**/*.po`) in bulk.

    python docs/translations.py stats                 # translated / to do, per catalog
    python docs/translations.py todo --part 2/5 > todo.json   # what is left, as {catalog: {msgid: ""}}
    python docs/translations.py apply done.json       # write translations back (clears "fuzzy")
    python docs/translations.py fill-code             # messages that are only code: kept as they are

`python docs/build.py --update-translations` first merges the English pages' current messages
into the catalogs (sphinx-intl); then `todo` lists the messages that are missing, empty or fuzzy.
A fuzzy message's earlier translation is given as its value in `todo`, to be checked and updated.
`--part K/N` splits the work into N shares of similar size, whole catalogs each, for people
translating side by side. Messages that hold only code, names and links (no words) are copied
unchanged by `fill-code`: code and output are never translated.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

CATALOGS = Path(__file__).resolve().parent / "locale" / "ja" / "LC_MESSAGES"
_CODE = re.compile(r"``[^`]*``|`[^`]*`|\{[a-z:-]+\}|https?://\S+|\([^)\s]*\.(?:md|html|png|svg)[^)\s]*\)")
_WORD = re.compile(r"[A-Za-z]{2,}")


def has_words(message: str) -> bool:
    """Whether a message holds words to translate, beyond code spans, roles and link targets."""
    return _WORD.search(_CODE.sub(" ", message)) is not None


def _catalogs() -> list[Path]:
    return sorted(CATALOGS.rglob("*.po"))


def _read(path: Path) -> Catalog:
    with path.open("rb") as stream:
        return read_po(stream)


def _write(path: Path, catalog: Catalog) -> None:
    with path.open("wb") as stream:
        write_po(stream, catalog, width=0)


def _open_messages(catalog: Catalog) -> list[tuple[str, str]]:
    return [
        (str(message.id), str(message.string or ""))
        for message in catalog
        if message.id and (not message.string or message.fuzzy)
    ]


def stats() -> int:
    total_done = total_left = 0
    for path in _catalogs():
        catalog = _read(path)
        messages = [message for message in catalog if message.id]
        left = len(_open_messages(catalog))
        total_done += len(messages) - left
        total_left += left
        print(f"{path.relative_to(CATALOGS)}: {len(messages) - left} translated, {left} to do")
    print(f"all: {total_done} translated, {total_left} to do")
    return 0


def todo(part: str | None) -> int:
    work: dict[str, dict[str, str]] = {}
    for path in _catalogs():
        left = {msgid: earlier for msgid, earlier in _open_messages(_read(path)) if has_words(msgid)}
        if left:
            work[str(path.relative_to(CATALOGS))] = left
    if part:
        index, count = (int(number) for number in part.split("/"))
        sizes = {name: sum(len(msgid) for msgid in messages) for name, messages in work.items()}
        shares: list[list[str]] = [[] for _ in range(count)]
        loads = [0] * count
        for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
            smallest = loads.index(min(loads))
            shares[smallest].append(name)
            loads[smallest] += sizes[name]
        work = {name: work[name] for name in sorted(shares[index - 1])}
    json.dump(work, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


def apply(source: Path) -> int:
    done = json.loads(source.read_text(encoding="utf-8"))
    changed = 0
    for name, translations in done.items():
        path = CATALOGS / name
        catalog = _read(path)
        for msgid, msgstr in translations.items():
            message = catalog.get(msgid)
            if message is None:
                print(f"{name}: no such message (skipped): {msgid[:60]!r}", file=sys.stderr)
                continue
            if msgstr:
                message.string = msgstr
                message.flags.discard("fuzzy")
                changed += 1
        _write(path, catalog)
    print(f"applied {changed} translation(s)")
    return 0


def fill_code() -> int:
    filled = 0
    for path in _catalogs():
        catalog = _read(path)
        for message in catalog:
            if message.id and (not message.string or message.fuzzy) and not has_words(str(message.id)):
                message.string = message.id
                message.flags.discard("fuzzy")
                filled += 1
        _write(path, catalog)
    print(f"kept {filled} code-only message(s) as they are")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("stats", help="translated / to do, per catalog")
    todo_parser = commands.add_parser("todo", help="what is left, as JSON on stdout")
    todo_parser.add_argument("--part", help="K/N: the K-th of N shares of similar size")
    apply_parser = commands.add_parser("apply", help="write translations from a JSON file")
    apply_parser.add_argument("source", type=Path)
    commands.add_parser("fill-code", help="keep code-only messages as they are")
    args = parser.parse_args(argv)
    if args.command == "stats":
        return stats()
    if args.command == "todo":
        return todo(args.part)
    if args.command == "apply":
        return apply(args.source)
    return fill_code()


if __name__ == "__main__":
    raise SystemExit(main())
