"""Safe extraction: hostile tar/zip members are refused with nothing written outside, all or nothing."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from _download_support import (  # noqa: F401
    files_under,
    isolated_home_fixture,
    server_fixture,
    tar_bytes,
    tar_with,
    zip_bytes,
)
from _http_server import TestServer

from kutils.archives import UnsafeArchiveError, extract_archive
from kutils.download import get_file


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the cache holding a secret that hostile archives aim at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("secret")
    return folder


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def hostile_tars(outside: Path) -> dict[str, bytes]:
    good = member("good/ok.txt")
    return {
        "dotdot": tar_with(good, member("../outside/evil.txt")),
        "absolute": tar_with(good, member(str(outside / "abs.txt"))),
        "symlink-out": tar_with(member("link", tarfile.SYMTYPE, str(outside)), member("link/evil.txt")),
        "relative-symlink-out": tar_with(member("up", tarfile.SYMTYPE, "../outside"), member("up/evil.txt")),
        "hardlink-out": tar_with(good, member("hard", tarfile.LNKTYPE, "../outside/secret.txt")),
        "absolute-hardlink": tar_with(good, member("hard", tarfile.LNKTYPE, str(outside / "secret.txt"))),
        "device": tar_with(good, member("dev", tarfile.CHRTYPE)),
        "fifo": tar_with(good, member("pipe", tarfile.FIFOTYPE)),
    }


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("dotdot", "would be written outside the destination folder"),
        ("absolute", "has an absolute path"),
        ("symlink-out", "is a link to an absolute path"),
        ("relative-symlink-out", "is a link pointing outside the destination folder"),
        ("hardlink-out", "is a link pointing outside the destination folder"),
        ("absolute-hardlink", "is a link to an absolute path"),
        ("device", "is a device, FIFO or other special file"),
        ("fifo", "is a device, FIFO or other special file"),
    ],
)
def test_hostile_tar_members_are_refused(
    server: TestServer, tmp_path: Path, outside: Path, case: str, why: str
):
    """Each hostile tar raises UnsafeArchiveError naming the member and why; nothing is written anywhere."""
    archive = hostile_tars(outside)[case]
    url = server.add(f"/{case}.tar.gz", archive)
    before = files_under(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=why) as info:
        get_file(f"{case}.tar.gz", url, extract=True, cache_dir=tmp_path / "cache")
    assert info.value.member is not None
    assert repr(info.value.member) in str(info.value)
    assert isinstance(info.value, ValueError)
    created = files_under(tmp_path) - before
    expected = {"cache", "cache/datasets", f"cache/datasets/{case}.tar.gz"}
    assert {p for p in created if not Path(p).name.startswith(".")} == expected
    assert (outside / "secret.txt").read_text() == "secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "a/../../evil.txt", "/abs-evil.txt", "\\..\\evil.txt", "C:/evil.txt", "..\\evil.txt"],
)
def test_zip_slip_is_refused(tmp_path: Path, outside: Path, name: str):
    """Zip members with `..`, absolute or drive paths are refused before anything is extracted."""
    archive = tmp_path / "slip.zip"
    archive.write_bytes(zip_bytes({"good/ok.txt": b"ok", name: b"pwned"}))
    target = tmp_path / "target"
    before = files_under(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="Refusing to extract") as info:
        extract_archive(archive, target)
    assert info.value.member == name
    assert files_under(tmp_path) - before == {"target"}


def test_zip_symlink_member_is_refused(tmp_path: Path):
    """A zip member flagged as a symbolic link is refused."""
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(archive, tmp_path / "target")


def test_refused_archive_extracts_nothing_even_after_good_members(tmp_path: Path, outside: Path):
    """The good members before a hostile one are not left behind (all or nothing)."""
    archive = tmp_path / "mixed.tar.gz"
    archive.write_bytes(hostile_tars(outside)["dotdot"])
    target = tmp_path / "target"
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, target)
    assert files_under(target) == set()


def test_symlinks_inside_the_archive_are_kept(tmp_path: Path):
    """A symlink pointing inside the destination is extracted as a symlink."""
    archive = tmp_path / "links.tar.gz"
    archive.write_bytes(tar_with(member("set/x.txt"), member("set/alias", tarfile.SYMTYPE, "x.txt")))
    names = extract_archive(archive, tmp_path / "target")
    assert names == ["set"]
    alias = tmp_path / "target" / "set" / "alias"
    assert alias.is_symlink()
    assert alias.read_bytes() == b"pwned"


def test_extraction_merges_into_existing_folders(tmp_path: Path):
    """As with 2.2.4's extractall, existing files stay and same-named files are replaced."""
    target = tmp_path / "target"
    (target / "set").mkdir(parents=True)
    (target / "set" / "keep.txt").write_text("mine")
    (target / "set" / "x.txt").write_text("old")
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes({"set/x.txt": b"new", "set/sub/y.txt": b"y"}, mode="w"))
    assert extract_archive(archive, target, "tar") == ["set"]
    assert (target / "set" / "keep.txt").read_text() == "mine"
    assert (target / "set" / "x.txt").read_text() == "new"
    assert (target / "set" / "sub" / "y.txt").read_text() == "y"


def test_folder_replacing_a_file_is_a_conflict(tmp_path: Path):
    """An archive folder where a file exists raises FileExistsError and moves nothing."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "set").write_text("a file")
    (target / "a.txt").write_text("before")
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes({"a.txt": b"after", "set/x.txt": b"x"}, mode="w"))
    with pytest.raises(FileExistsError, match="set"):
        extract_archive(archive, target)
    assert (target / "a.txt").read_text() == "before"
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "set"]


def test_existing_link_to_outside_is_not_followed(tmp_path: Path, outside: Path):
    """A folder in the destination that links outside is not written through."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "set").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes({"set/evil.txt": b"x"}, mode="w"))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_archive(archive, target)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_archive_format_selection(tmp_path: Path):
    """archive_format='zip' ignores a tar, None extracts nothing, unknown names raise ValueError."""
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes({"x.txt": b"x"}, mode="w"))
    assert extract_archive(archive, tmp_path / "t", "zip") is None
    assert extract_archive(archive, tmp_path / "t", None) is None
    assert extract_archive(archive, tmp_path / "t", ["zip", "tar"]) == ["x.txt"]
    with pytest.raises(ValueError, match="'7z'"):
        extract_archive(archive, tmp_path / "t", ["tar", "7z"])
