"""Builds the kutils documentation site in English and Japanese, with its pictures, and checks it.

    python docs/build.py                      # -> docs/_build/site/{en,ja}/, index.html redirects to en
    python docs/build.py --out DIR            # somewhere else
    python docs/build.py --update-translations  # refresh docs/locale/ja/LC_MESSAGES/*.po, then build

Each language is built with warnings as errors (`-W --keep-going`), and Sphinx's `linkcheck`
checks the internal links (web addresses are not visited). The build fails when a
Japanese message is missing, empty or fuzzy in `docs/locale/ja` (the translation check), so a
page changed in English must be translated before it lands. The pictures (`docs/images/generated/`)
are made first by `docs/_pictures.py` from real runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
LOCALE = DOCS / "locale"
LANGUAGES = ("en", "ja")
PICTURES = DOCS / "images" / "generated"


def _sphinx(builder: str, out: Path, *options: str, strict: bool = True) -> None:
    checks = ["-W", "--keep-going"] if strict else []
    command = [sys.executable, "-m", "sphinx", "-b", builder, *checks, "-q", *options, str(DOCS), str(out)]
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def untranslated(pot_dir: Path, po_dir: Path) -> list[str]:
    """Messages of the current English pages that `po_dir` lacks, leaves empty or marks fuzzy."""
    from babel.messages.pofile import read_po

    problems = []
    for pot in sorted(pot_dir.rglob("*.pot")):
        relative = pot.relative_to(pot_dir).with_suffix(".po")
        po_path = po_dir / relative
        catalog = None
        if po_path.exists():
            with po_path.open("rb") as stream:
                catalog = read_po(stream)
        with pot.open("rb") as stream:
            template = read_po(stream)
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, message.context) if catalog is not None else None
            if found is None or not found.string or found.fuzzy:
                state = "missing" if found is None else ("fuzzy" if found.fuzzy else "empty")
                problems.append(f"{relative}: {state}: {str(message.id)[:70]!r}")
    return problems


def update_translations() -> None:
    """Regenerates the message templates and merges them into the Japanese catalogs (sphinx-intl)."""
    with tempfile.TemporaryDirectory() as pot_dir:
        _sphinx("gettext", Path(pot_dir), strict=False)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sphinx_intl",
                "update",
                "-p",
                pot_dir,
                "-d",
                str(LOCALE),
                "-l",
                "ja",
                "-w",
                "0",
            ],
            check=True,
        )


def check_translations() -> list[str]:
    """Builds the message templates and returns what the Japanese catalogs miss."""
    with tempfile.TemporaryDirectory() as pot_dir:
        _sphinx("gettext", Path(pot_dir), strict=False)  # the html builds below are the strict ones
        return untranslated(Path(pot_dir), LOCALE / "ja" / "LC_MESSAGES")


def build(out: Path, *, pictures: bool = True) -> None:
    """Builds both languages into `out/en` and `out/ja`, with a root page that redirects to English."""
    if pictures:
        subprocess.run([sys.executable, str(DOCS / "_pictures.py"), str(PICTURES)], check=True)
    problems = check_translations()
    if problems:
        shown = "\n".join(problems[:40])
        raise SystemExit(
            f"{len(problems)} Japanese message(s) are not translated (run `python docs/build.py "
            f"--update-translations`, then translate docs/locale/ja):\n{shown}"
        )
    for language in LANGUAGES:
        target = out / language
        if target.exists():
            shutil.rmtree(target)
        _sphinx("html", target, "-D", f"language={language}")
    with tempfile.TemporaryDirectory() as links:  # internal links and anchors; the web is not reached
        _sphinx("linkcheck", Path(links))
    (out / "index.html").write_text(
        '<!DOCTYPE html><meta charset="utf-8"><title>kutils</title>'
        '<meta http-equiv="refresh" content="0; url=en/index.html"><a href="en/index.html">kutils</a>\n',
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_build" / "site", help="where the site goes")
    parser.add_argument("--update-translations", action="store_true", help="refresh the .po files first")
    parser.add_argument("--no-pictures", action="store_true", help="keep the pictures already made")
    args = parser.parse_args(argv)
    if args.update_translations:
        update_translations()
    build(args.out, pictures=not args.no_pictures)
    print(f"built {', '.join(LANGUAGES)} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
