"""Archive inspection: summaries of ordinary projects, and every refusal with crafted archives.

All archives are built at test time in ``tmp_path``; the "bombs" are made of zeros streamed through
``zipfile``/``gzip`` so that the tests themselves never hold hundreds of MiB in memory.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from portfolio.analysis.archives import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    ArchiveRefused,
    EntryNotFound,
    detect_format,
    inspect_archive,
    is_test_path,
    read_entry,
)

MiB = 1024 * 1024

PROJECT = {
    "shop/README.md": b"# Shop\n\nA small shop.\n",
    "shop/src/shop/__init__.py": b"",
    "shop/src/shop/cart.py": b"class Cart:\n    def __init__(self):\n        self.items = []\n",
    "shop/src/shop/api.ts": b"export const api = 1;\nexport function get() {\n  return api;\n}\n",
    "shop/src/main/java/com/example/Cart.java": b"package com.example;\n\nclass Cart {}\n",
    "shop/web/index.html": b"<!doctype html>\n<title>Shop</title>",  # no final newline: still 2 lines
    "shop/tests/test_cart.py": b"from shop.cart import Cart\n\n\ndef test_empty():\n    assert Cart().items == []\n",
    "shop/node_modules/left-pad/index.js": b"module.exports = 1;\n" * 50,  # vendored: not counted
    "shop/static/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
    "shop/scripts/build.py": b"\x00binary despite its name\n",  # binary content: not counted
}
EXPECTED_LANGUAGES = {"Python": 8, "TypeScript": 4, "Java": 3, "HTML": 2}


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def make_zip(path: Path, files: dict[str, bytes], *, dirs: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in dirs:
            zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, files: dict[str, bytes], *, mode: str = "w", dirs: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, mode) as tf:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def tar_with(path: Path, *members: tarfile.TarInfo, mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        tf.addfile(_file_info("ok.txt", 3), io.BytesIO(b"ok\n"))
        for member in members:
            tf.addfile(member, io.BytesIO(bytes(member.size)) if member.size else None)
    return path


def _file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def zip_of_zeros(path: Path, name: str, size: int, *, level: int = 9) -> Path:
    """A zip whose single entry is ``size`` zero bytes, written in 1 MiB pieces."""
    chunk = bytes(MiB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf,
        zf.open(name, "w", force_zip64=size > 2**31) as entry,
    ):
        written = 0
        while written < size:
            piece = chunk[: min(MiB, size - written)]
            entry.write(piece)
            written += len(piece)
    return path


def patch_declared_size(path: Path, name: bytes, new_size: int) -> None:
    """Rewrite an entry's uncompressed size in both its local header and the central directory."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    assert data[local + 30 : local + 30 + len(name)] == name
    struct.pack_into("<L", data, local + 22, new_size)
    central = data.find(b"PK\x01\x02")
    assert data[central + 46 : central + 46 + len(name)] == name
    struct.pack_into("<L", data, central + 24, new_size)
    path.write_bytes(bytes(data))


def refused(report) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    return report.refused, report.reason


# --------------------------------------------------------------------------------------------
# Ordinary projects
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "name", "kind"),
    [
        (lambda p: make_zip(p, PROJECT, dirs=("shop/", "shop/src/")), "project.zip", "zip"),
        (lambda p: make_tar(p, PROJECT, dirs=("shop", "shop/src")), "project.tar", "tar"),
        (lambda p: make_tar(p, PROJECT, mode="w:gz", dirs=("shop", "shop/src")), "project.tar.gz", "tar.gz"),
    ],
)
def test_project_summary(tmp_path: Path, builder, name: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    path = builder(tmp_path / name)
    report = inspect_archive(path, filename=name)
    assert report.refused is None and report.reason is None and report.ok
    assert report.format == kind
    files = {e.path: e for e in report.entries if not e.is_dir}
    assert set(files) == set(PROJECT)
    assert {e.path for e in report.entries if e.is_dir} == {"shop", "shop/src"}
    assert files["shop/src/shop/cart.py"].size == len(PROJECT["shop/src/shop/cart.py"])
    if kind == "zip":
        assert files["shop/src/shop/cart.py"].compressed_size is not None
    else:
        assert files["shop/src/shop/cart.py"].compressed_size is None
    assert report.languages == EXPECTED_LANGUAGES
    assert list(report.languages) == ["Python", "TypeScript", "Java", "HTML"]  # most lines first
    assert report.has_tests is True
    assert report.total_size == sum(len(v) for v in PROJECT.values())
    assert report.summary() == {
        "entries": len(PROJECT) + 2,
        "files": len(PROJECT),
        "languages": EXPECTED_LANGUAGES,
        "has_tests": True,
        "executables": [],  # programs inside the archive are listed (none here)
    }


def test_same_project_read_from_a_stream_and_bytes(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", PROJECT)
    with path.open("rb") as f:
        from_stream = inspect_archive(f, filename="p.zip")
    from_bytes = inspect_archive(io.BytesIO(path.read_bytes()), filename="p.zip")
    assert from_stream.languages == from_bytes.languages == EXPECTED_LANGUAGES


class _Unseekable:
    """An object-store body: read() only."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)


@pytest.mark.parametrize("mode", ["zip", "w:gz", "w"])
def test_unseekable_streams(tmp_path: Path, mode: str) -> None:
    path = make_zip(tmp_path / "p.zip", PROJECT) if mode == "zip" else make_tar(tmp_path / "p.tar", PROJECT, mode=mode)
    report = inspect_archive(_Unseekable(path.read_bytes()), filename="upload")  # type: ignore[arg-type]
    assert report.refused is None
    assert report.languages == EXPECTED_LANGUAGES
    data = read_entry(_Unseekable(path.read_bytes()), filename="x", path="shop/src/shop/cart.py", max_bytes=100)  # type: ignore[arg-type]
    assert data == PROJECT["shop/src/shop/cart.py"]


def test_unseekable_zip_larger_than_the_buffer_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", {"a.bin": os.urandom(64 * 1024)})
    limits = ArchiveLimits(max_archive_size=32 * 1024)
    report = inspect_archive(_Unseekable(path.read_bytes()), filename="p.zip", limits=limits)  # type: ignore[arg-type]
    assert report.refused == "too_large"


def test_format_is_detected_from_content_not_name(tmp_path: Path) -> None:
    tgz = make_tar(tmp_path / "disguised.zip", {"a.py": b"x = 1\n"}, mode="w:gz")
    report = inspect_archive(tgz, filename="disguised.zip")
    assert report.format == "tar.gz" and report.languages == {"Python": 1}
    zipped = make_zip(tmp_path / "disguised.tar", {"a.go": b"package main\n"})
    assert inspect_archive(zipped, filename="disguised.tar").format == "zip"
    plain = make_tar(tmp_path / "noext", {"a.rs": b"fn main() {}\n"})
    assert inspect_archive(plain, filename="noext").languages == {"Rust": 1}


def test_detect_format() -> None:
    assert detect_format(b"PK\x03\x04rest") == "zip"
    assert detect_format(b"\x1f\x8b\x08\x00") == "tar.gz"
    assert detect_format(b"BZh91AY&SY") == "unsupported"
    assert detect_format(b"7z\xbc\xaf\x27\x1c\x00\x04") == "unsupported"
    assert detect_format(b"hello") is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"just some text, not an archive\n", "not_an_archive"),
        (b"", "not_an_archive"),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100), "unsupported"),
        (gzip.compress(b"a gzipped text file, not a tar\n", mtime=0), "unsupported"),
        (b"PK\x03\x04" + bytes(60), "corrupt"),
        (gzip.compress(bytes(4096), mtime=0)[:20], "corrupt"),
    ],
)
def test_not_an_archive(data: bytes, code: str) -> None:
    report = inspect_archive(io.BytesIO(data), filename="file.zip")
    assert report.refused == code
    assert report.reason and report.entries == [] and report.languages == {}
    with pytest.raises(ArchiveRefused) as excinfo:
        read_entry(io.BytesIO(data), filename="file.zip", path="a", max_bytes=10)
    assert excinfo.value.code == code


def test_corrupt_zip_entry_is_reported(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "c.zip", {"a.txt": b"hello world " * 100})
    zipfile_bytes = bytearray(path.read_bytes())
    # Flip a byte of the compressed data: the CRC (or the deflate stream) no longer matches.
    zipfile_bytes[40] ^= 0xFF
    report = inspect_archive(io.BytesIO(bytes(zipfile_bytes)), filename="c.zip")
    assert report.refused == "corrupt"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_cart.py", True),
        ("src/test/java/com/example/CartTest.java", True),
        ("app/src/main/java/com/example/CartServiceTest.java", True),
        ("pkg/cart_test.go", True),
        ("web/src/cart.spec.ts", True),
        ("web/src/cart.test.jsx", True),
        ("lib/__tests__/cart.js", True),
        ("spec/models/cart_spec.rb", True),
        ("test_cart.py", True),
        ("conftest.py", True),
        ("tests/Unit/LoanTest.php", True),
        ("src/cart.py", False),
        ("src/contest.py", False),
        ("src/latest.go", False),
        ("docs/testing.md", False),
        ("node_modules/lodash/test/test.js", False),
        ("vendor/phpunit/phpunit/tests/FooTest.php", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_project_without_tests(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", {"src/app.py": b"print(1)\n", "node_modules/x/test/a.js": b"1\n"})
    report = inspect_archive(path, filename="p.zip")
    assert report.has_tests is False
    assert report.languages == {"Python": 1}


# --------------------------------------------------------------------------------------------
# read_entry
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["zip", "w", "w:gz"])
def test_read_entry(tmp_path: Path, mode: str) -> None:
    path = (
        make_zip(tmp_path / "p.zip", PROJECT, dirs=("shop/",))
        if mode == "zip"
        else make_tar(tmp_path / "p.tar", PROJECT, mode=mode, dirs=("shop",))
    )
    source = PROJECT["shop/tests/test_cart.py"]
    assert read_entry(path, filename="p", path="shop/tests/test_cart.py", max_bytes=10_000) == source
    assert read_entry(path, filename="p", path="shop/tests/test_cart.py", max_bytes=10) == source[:10]
    assert read_entry(path, filename="p", path="shop/src/shop/__init__.py", max_bytes=10) == b""
    for missing in ("shop/nope.py", "shop", "/shop/tests/test_cart.py", "shop/tests/../tests/test_cart.py"):
        with pytest.raises(EntryNotFound):
            read_entry(path, filename="p", path=missing, max_bytes=10)


def test_read_entry_refuses_a_refused_archive(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", {"ok.py": b"1\n", "../evil.py": b"2\n"})
    with pytest.raises(ArchiveRefused) as excinfo:
        read_entry(path, filename="p.zip", path="ok.py", max_bytes=10)
    assert excinfo.value.code == "unsafe_path"


def test_read_entry_checks_the_entry_it_reads(tmp_path: Path) -> None:
    path = zip_of_zeros(tmp_path / "lie.zip", "small.txt", 2 * MiB)
    patch_declared_size(path, b"small.txt", 1000)
    with pytest.raises(ArchiveRefused) as excinfo:
        read_entry(path, filename="lie.zip", path="small.txt", max_bytes=10)
    assert excinfo.value.code == "zip_bomb"


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------

UNSAFE_NAMES = [
    "../evil",
    "a/../../evil",
    "/etc/passwd",
    "C:/Windows/evil.dll",
    "C:evil",
    "a\\..\\..\\evil",
    "dir\\file.txt",
    "bad\x00name",
    "bad\nname",
    "invoice\u202etxt.exe",  # displays as "invoiceexe.txt"
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_paths_in_zip(tmp_path: Path, name: str) -> None:
    # zipfile cuts names at a NUL when writing: write a placeholder and patch the raw bytes.
    placeholder = name.replace("\x00", "X")
    path = make_zip(tmp_path / "evil.zip", {"ok.py": b"1\n", placeholder: b"pwned\n"})
    path.write_bytes(path.read_bytes().replace(placeholder.encode(), name.encode()))
    report = inspect_archive(path, filename="evil.zip")
    assert report.refused == "unsafe_path", name
    assert report.reason.startswith("Archive refusée")
    assert report.entries == [] and report.languages == {} and report.has_tests is False
    assert report.summary() == {"refused": "unsafe_path", "reason": report.reason}


@pytest.mark.parametrize("name", [n for n in UNSAFE_NAMES if "\x00" not in n])
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_unsafe_paths_in_tar(tmp_path: Path, name: str, mode: str) -> None:
    path = tar_with(tmp_path / "evil.tar", _file_info(name, 6), mode=mode)
    assert inspect_archive(path, filename="evil.tar").refused == "unsafe_path"


def test_dot_components_are_normalised(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", {"./src/./app.py": b"x\n", "src//util.py": b"y\n"})
    report = inspect_archive(path, filename="p.zip")
    assert [e.path for e in report.entries] == ["src/app.py", "src/util.py"]
    assert read_entry(path, filename="p.zip", path="src/app.py", max_bytes=10) == b"x\n"


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("a.py", b"shown\n")
        zf.writestr("./a.py", b"hidden\n")
        zf.writestr("a.py", b"other\n")
    assert inspect_archive(path, filename="dup.zip").refused == "duplicate_entry"


def test_too_deep(tmp_path: Path) -> None:
    deep = "/".join(["d"] * 21) + "/f.py"
    ok = "/".join(["d"] * 19) + "/f.py"
    assert inspect_archive(make_zip(tmp_path / "ok.zip", {ok: b"1\n"}), filename="ok.zip").refused is None
    report = inspect_archive(make_zip(tmp_path / "deep.zip", {deep: b"1\n"}), filename="deep.zip")
    assert report.refused == "too_deep"
    report = inspect_archive(make_tar(tmp_path / "deep.tar", {deep: b"1\n"}), filename="deep.tar")
    assert report.refused == "too_deep"


def test_path_too_long(tmp_path: Path) -> None:
    name = "a" * 200 + "/" + "b" * 900 + ".py"
    report = inspect_archive(make_tar(tmp_path / "long.tar", {name: b"1\n"}), filename="long.tar")
    assert report.refused == "path_too_long"


# --------------------------------------------------------------------------------------------
# Links and special files
# --------------------------------------------------------------------------------------------


def _tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("member", "code"),
    [
        (_tar_special("link-to-passwd", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (_tar_special("innocent", tarfile.SYMTYPE, "../../home"), "link"),
        (_tar_special("hard", tarfile.LNKTYPE, "ok.txt"), "link"),
        (_tar_special("dev/null", tarfile.CHRTYPE), "special_file"),
        (_tar_special("dev/sda", tarfile.BLKTYPE), "special_file"),
        (_tar_special("fifo", tarfile.FIFOTYPE), "special_file"),
    ],
)
@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_links_and_devices_in_tar(tmp_path: Path, member: tarfile.TarInfo, code: str, mode: str) -> None:
    path = tar_with(tmp_path / "special.tar", member, mode=mode)
    report = inspect_archive(path, filename="special.tar")
    assert report.refused == code
    assert report.reason
    with pytest.raises(ArchiveRefused):
        read_entry(path, filename="special.tar", path="ok.txt", max_bytes=10)


def test_symlink_in_zip(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.txt", b"ok\n")
        info = zipfile.ZipInfo("passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, b"/etc/passwd")
    assert inspect_archive(path, filename="link.zip").refused == "link"


def test_device_in_zip(tmp_path: Path) -> None:
    path = tmp_path / "dev.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("null")
        info.external_attr = (stat.S_IFCHR | 0o666) << 16
        zf.writestr(info, b"")
    assert inspect_archive(path, filename="dev.zip").refused == "special_file"


def test_encrypted_zip_entry(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", {"secret.txt": b"secret\n"})
    data = bytearray(path.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        (flags,) = struct.unpack_from("<H", data, at + flag_offset)
        struct.pack_into("<H", data, at + flag_offset, flags | 0x1)
    report = inspect_archive(io.BytesIO(bytes(data)), filename="enc.zip")
    assert report.refused == "encrypted"


def test_unsupported_zip_compression(tmp_path: Path) -> None:
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("a.txt", b"a\n")
    assert inspect_archive(path, filename="bz.zip").refused == "unsupported"


# --------------------------------------------------------------------------------------------
# Bombs and sizes
# --------------------------------------------------------------------------------------------


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    path = zip_of_zeros(tmp_path / "bomb.zip", "zeros.bin", 200 * MiB)
    assert path.stat().st_size < 1 * MiB
    report = inspect_archive(path, filename="bomb.zip")
    assert report.refused == "zip_bomb"
    assert "bombe de décompression" in report.reason
    assert report.entries == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]  # nothing written beside it


def test_zip_bomb_with_lying_header(tmp_path: Path) -> None:
    """The central directory says 1,000 bytes; the deflate stream holds 2 MiB."""
    path = zip_of_zeros(tmp_path / "lie.zip", "small.txt", 2 * MiB)
    patch_declared_size(path, b"small.txt", 1000)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("small.txt").file_size == 1000  # the lie is what zipfile sees
    report = inspect_archive(path, filename="lie.zip")
    assert report.refused == "zip_bomb"
    assert "plus de données que son en-tête" in report.reason


def test_header_declaring_more_than_the_data(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "short.zip", {"a.txt": b"hello\n"})
    patch_declared_size(path, b"a.txt", 60)
    assert inspect_archive(path, filename="short.zip").refused == "corrupt"


def test_overlapping_entries_bomb(tmp_path: Path) -> None:
    """Two central-directory entries pointing at the same data (the 'non-recursive' zip bomb)."""
    path = make_zip(tmp_path / "one.zip", {"a.txt": b"x" * 1000})
    data = path.read_bytes()
    cd_at = data.find(b"PK\x01\x02")
    eocd_at = data.find(b"PK\x05\x06")
    central = data[cd_at:eocd_at]
    second = bytearray(central)
    second[46:51] = b"b.txt"  # same length name, same local header offset
    new_central = central + bytes(second)
    eocd = bytearray(data[eocd_at:])
    struct.pack_into("<HHL", eocd, 8, 2, 2, len(new_central))
    (tmp_path / "overlap.zip").write_bytes(data[:cd_at] + new_central + bytes(eocd))
    report = inspect_archive(tmp_path / "overlap.zip", filename="overlap.zip")
    assert report.refused == "zip_bomb"
    assert "partagent les mêmes données" in report.reason


def test_overall_ratio(tmp_path: Path) -> None:
    """Many entries, each under the per-entry limits, adding up to far more than the archive."""
    limits = ArchiveLimits(max_ratio=100, ratio_min_size=MiB, max_entry_size=MiB)
    files = {f"f{i}.txt": bytes(900 * 1024) for i in range(4)}  # each ~900 KiB of zeros: under ratio_min_size
    path = make_zip(tmp_path / "many.zip", files)
    report = inspect_archive(path, filename="many.zip", limits=limits)
    assert report.refused == "zip_bomb"


def test_tar_gz_bomb(tmp_path: Path) -> None:
    """200 MiB of zeros in a tar.gz: the gzip stream is stopped once the ratio is crossed."""
    path = tmp_path / "bomb.tar.gz"
    with gzip.open(path, "wb", compresslevel=9) as gz:
        info = _file_info("zeros.bin", 99 * MiB)  # under the per-entry limit: only the ratio catches it
        gz.write(info.tobuf(format=tarfile.PAX_FORMAT))
        chunk = bytes(MiB)
        for _ in range(99):
            gz.write(chunk)
        gz.write(bytes(1024))
    assert path.stat().st_size < 1 * MiB
    report = inspect_archive(path, filename="bomb.tar.gz")
    assert report.refused == "zip_bomb"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tar.gz"]


def test_tar_gz_per_entry_ratio(tmp_path: Path) -> None:
    """One very compressible entry hidden among incompressible data: the overall ratio is low."""
    limits = ArchiveLimits(max_ratio=20, ratio_min_size=MiB)
    files = {"noise.bin": os.urandom(3 * MiB), "zeros.bin": bytes(8 * MiB)}
    path = make_tar(tmp_path / "mixed.tar.gz", files, mode="w:gz")
    assert 8 * MiB + 3 * MiB < 20 * path.stat().st_size  # overall ratio under the limit
    report = inspect_archive(path, filename="mixed.tar.gz", limits=limits)
    assert report.refused == "zip_bomb"
    assert "zeros.bin" in report.reason


def test_entry_too_large(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_entry_size=100 * 1024)
    data = os.urandom(150 * 1024)  # incompressible: a big file, not a bomb
    for path in (make_zip(tmp_path / "big.zip", {"big.bin": data}), make_tar(tmp_path / "big.tar", {"big.bin": data})):
        report = inspect_archive(path, filename=path.name, limits=limits)
        assert report.refused == "entry_too_large"


def test_total_too_large(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_total_size=256 * 1024)
    files = {f"part{i}.bin": os.urandom(100 * 1024) for i in range(3)}
    for path in (make_zip(tmp_path / "big.zip", files), make_tar(tmp_path / "big.tgz", files, mode="w:gz")):
        assert inspect_archive(path, filename=path.name, limits=limits).refused == "too_large"


def test_too_many_entries(tmp_path: Path) -> None:
    files = {f"f{i}.txt": b"" for i in range(DEFAULT_LIMITS.max_entries + 1)}
    assert inspect_archive(make_zip(tmp_path / "many.zip", files), filename="many.zip").refused == "too_many_entries"
    assert inspect_archive(make_tar(tmp_path / "many.tar", files), filename="many.tar").refused == "too_many_entries"
    limits = ArchiveLimits(max_entries=10)
    few = {f"f{i}.txt": b"" for i in range(10)}
    assert inspect_archive(make_zip(tmp_path / "ten.zip", few), filename="ten.zip", limits=limits).refused is None
    more = {**few, "one-more.txt": b""}
    report = inspect_archive(make_tar(tmp_path / "11.tar.gz", more, mode="w:gz"), filename="11.tgz", limits=limits)
    assert report.refused == "too_many_entries"


def test_zip_directory_declaring_too_many_entries(tmp_path: Path) -> None:
    """Refused from the end record alone, before zipfile builds a ZipInfo per header."""
    path = make_zip(tmp_path / "p.zip", {"a.txt": b"a"})
    data = bytearray(path.read_bytes())
    eocd_at = data.find(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd_at + 8, 60_000, 60_000)
    report = inspect_archive(io.BytesIO(bytes(data)), filename="p.zip")
    assert report.refused == "too_many_entries"


def test_small_compressible_files_are_not_bombs(tmp_path: Path) -> None:
    """A 500 KiB file of blanks compresses a thousandfold; it stays under ratio_min_size."""
    files = {"blank.txt": b" " * 500 * 1024, "src/a.py": b"pass\n"}
    for path in (make_zip(tmp_path / "b.zip", files), make_tar(tmp_path / "b.tgz", files, mode="w:gz")):
        report = inspect_archive(path, filename=path.name)
        assert report.refused is None, report.reason
    empty = make_tar(tmp_path / "empty.tar.gz", {}, mode="w:gz")
    report = inspect_archive(empty, filename="empty.tar.gz")
    assert report.refused is None and report.entries == []
