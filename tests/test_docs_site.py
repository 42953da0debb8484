"""The documentation site, built as `tox -e docs` builds it and opened in a real headless Chromium.

The site (English and Japanese) is built once by `docs/build.py` (which also fails on an untranslated
Japanese message), served on 127.0.0.1, and every page of both languages is visited with Playwright
driving Debian's `chromium`: no console error, every internal link lands on an existing page and
anchor, every image loads, every Japanese page is in Japanese, and the language switch leads to the
same page in the other language. Screenshots of the index and one API page per language are saved
in `$KUTILS_SCREENSHOTS` (default `docs/_build/screenshots`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("KUTILS_SCREENSHOTS", REPO / "docs" / "_build" / "screenshots"))
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The search and index pages are made by Sphinx and hold almost no text of ours.

pytestmark = pytest.mark.slow


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # `format`: the base class's name
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Builds the site and serves it on 127.0.0.1; yields (base URL, folder)."""
    out = tmp_path_factory.mktemp("site")
    # The site documents the default line, Keras 3, whatever line this test run selects.
    keras3 = {name: value for name, value in os.environ.items() if name != "TF_USE_LEGACY_KERAS"}
    subprocess.run(
        [sys.executable, str(REPO / "docs" / "build.py"), "--out", str(out)],
        check=True,
        timeout=1500,
        env=keras3,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", out
    finally:
        server.shutdown()
        server.server_close()


def _pages(out: Path, language: str) -> list[str]:
    root = out / language
    skip = {"_static", "_sources", "_images", "_modules"}
    return sorted(
        path.relative_to(out).as_posix()
        for path in root.rglob("*.html")
        if not skip & set(path.relative_to(root).parts)
    )


def _anchor_exists(out: Path, relative: str, fragment: str) -> bool:
    text = (out / relative).read_text(encoding="utf-8")
    return f'id="{fragment}"' in text or f'name="{fragment}"' in text


def test_every_page_in_both_languages_loads_clean(site):
    """Each page: no console error, internal links and anchors exist, images load, JA is Japanese."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "Debian's chromium is needed: apt-get install chromium (quickstart.sh does)"
    base, out = site
    problems: list[str] = []
    english, japanese = _pages(out, "en"), _pages(out, "ja")
    assert len(english) >= 30
    assert [page.removeprefix("en/") for page in english] == [page.removeprefix("ja/") for page in japanese]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        for relative in english + japanese:
            errors.clear()
            page.goto(base + relative, wait_until="load")
            problems += [f"{relative}: console error: {error}" for error in errors]
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                target, fragment = urldefrag(href)
                if not target.startswith(base):
                    continue  # another site: not checked here
                path = urlsplit(target).path.lstrip("/") or "index.html"
                if path.endswith("/"):
                    path += "index.html"
                if not (out / path).is_file():
                    problems.append(f"{relative}: broken link {href}")
                elif fragment and path.endswith(".html") and not _anchor_exists(out, path, fragment):
                    problems.append(f"{relative}: missing anchor {href}")
            broken = page.eval_on_selector_all(
                "img", "images => images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            problems += [f"{relative}: image does not load: {src}" for src in broken]
            if relative.startswith("ja/") and relative not in ("ja/search.html", "ja/genindex.html"):
                lang = page.get_attribute("html", "lang")
                text = page.inner_text("article")
                if lang != "ja" or len(JAPANESE.findall(text)) < 20:
                    problems.append(f"{relative}: not in Japanese (lang={lang!r})")
        for language in ("en", "ja"):
            for name in ("index", "api/kutils.array_ops"):
                page.goto(f"{base}{language}/{name}.html", wait_until="load")
                page.screenshot(
                    path=str(SCREENSHOTS / f"{language}-{name.replace('/', '-')}.png"), full_page=True
                )
        browser.close()
    assert problems == [], "\n".join(problems[:50])


def test_language_switch_leads_to_the_same_page(site):
    """The switch on an API page in English opens that page in Japanese, and back."""
    from playwright.sync_api import sync_playwright

    base, _ = site
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{base}en/api/kutils.array_ops.html")
        page.click("a.kutils-language-link[lang=ja]")
        assert page.url == urljoin(base, "ja/api/kutils.array_ops.html")
        assert page.get_attribute("html", "lang") == "ja"
        page.click("a.kutils-language-link[lang=en]")
        assert page.url == urljoin(base, "en/api/kutils.array_ops.html")
        browser.close()
