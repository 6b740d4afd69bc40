"""Browse ``.zip``, ``.tar`` and ``.tar.gz`` archives within strict bounds, without extracting them.

:func:`inspect_archive` lists an archive and summarises it (lines per language, whether it holds
tests); :func:`read_entry` returns the bytes of one of its files for display. Nothing is ever
written to disk: entries are read as streams, in memory, in bounded chunks, and reading stops as
soon as a limit is crossed. The format is recognised from the content (magic bytes), the file name
only breaks ties.

What is refused (``ArchiveReport.refused`` holds the code, ``reason`` a French sentence):

=====================  ==========================================================================
``zip_bomb``           compression ratio above ``max_ratio`` (per entry or overall, once more than
                       ``ratio_min_size`` bytes are involved); an entry yielding more bytes than its
                       header declares; zip entries sharing their data (overlapping entries)
``too_many_entries``   more than ``max_entries`` entries (or a zip central directory too large)
``too_large``          more than ``max_total_size`` bytes uncompressed in all
``entry_too_large``    one entry above ``max_entry_size`` bytes
``too_deep``           a path of more than ``max_depth`` components
``path_too_long``      a path of more than ``max_path_length`` characters
``unsafe_path``        absolute path, ``..`` component, drive letter, backslash, control character
``duplicate_entry``    two entries with the same path (which one would be shown?)
``link``               symbolic or hard link
``special_file``       device, FIFO, socket or sparse entry
``encrypted``          password-protected zip entry
``unsupported``        another format (7z, rar, bzip2, xz...) or an unknown zip compression method
``corrupt``            damaged archive (bad CRC, truncated data, inconsistent headers)
``not_an_archive``     not an archive at all
=====================  ==========================================================================

Headers are never trusted: zip sizes declared in the central directory are checked against what
decompression actually yields, and a gzip stream is decompressed by this module, which counts every
byte it produces against both ratio and size limits before ``tarfile`` sees it.

Languages are counted by file extension (:func:`portfolio.analysis.code.language_for_path`), over
text files outside vendored directories (``node_modules``, ``vendor``, ``.git``...).

Over 400 lines: three archive formats behind one bounded reader; each bound is checked where bytes are read.
"""

from __future__ import annotations

import copy
import io
import os
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO, TypeGuard

from portfolio.analysis.code import language_for_path, looks_binary
from portfolio.storage.base import Readable
from portfolio.storage.sniff import executable_kind

__all__ = [
    "DEFAULT_LIMITS",
    "ArchiveEntry",
    "ArchiveLimits",
    "ArchiveRefused",
    "ArchiveReport",
    "EntryNotFound",
    "detect_format",
    "inspect_archive",
    "is_test_path",
    "read_entry",
]

MiB = 1024 * 1024
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on reading an archive. Sizes are in bytes of uncompressed content."""

    max_entries: int = 5_000
    max_total_size: int = 500 * MiB
    max_entry_size: int = 100 * MiB
    max_ratio: float = 100.0
    # Ratios are only judged beyond this many uncompressed bytes: a small file of blanks compresses
    # a thousandfold and is harmless; an empty tar is 10 KiB of zeros that gzip turns into 45 bytes.
    ratio_min_size: int = 1 * MiB
    max_depth: int = 20
    max_path_length: int = 1024
    # A stream that cannot seek (an object-store body) is buffered in memory to read a zip; larger
    # inputs are refused. Tar streams are read as they come and need no buffer.
    max_archive_size: int = 256 * MiB


DEFAULT_LIMITS = ArchiveLimits()


@dataclass
class ArchiveEntry:
    path: str  # normalised: "/"-separated, relative, no "." components, no trailing "/"
    size: int  # uncompressed bytes (as declared; checked when read)
    compressed_size: int | None  # zip only; None for tar entries
    is_dir: bool


@dataclass
class ArchiveReport:
    entries: list[ArchiveEntry] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=dict)  # lines per language, most first
    has_tests: bool = False
    refused: str | None = None  # reason code, see the module documentation
    reason: str | None = None  # French sentence for people
    format: str | None = None  # "zip", "tar" or "tar.gz"
    total_size: int = 0  # uncompressed bytes of all files
    executables: list[str] = field(default_factory=list)  # paths of programs inside (see storage.sniff)

    @property
    def ok(self) -> bool:
        return self.refused is None

    def summary(self) -> dict:
        """The API's ``archive`` object."""
        if self.refused:
            return {"refused": self.refused, "reason": self.reason}
        return {
            "entries": len(self.entries),
            "files": sum(1 for e in self.entries if not e.is_dir),
            "languages": dict(self.languages),
            "has_tests": self.has_tests,
            "executables": list(self.executables),
        }


class ArchiveRefused(Exception):  # noqa: N818 - a verdict, not a programming error
    """The archive cannot be read within the limits; ``code`` for programs, ``reason`` in French."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class EntryNotFound(LookupError):
    """:func:`read_entry` was asked for a path that is not a file of the archive."""


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("octets", "Kio", "Mio", "Gio"):
        if n < 1024 or unit == "Gio":
            return f"{n:.0f} {unit}" if unit == "octets" else f"{n:.1f} {unit}".replace(".", ",")
        n /= 1024
    raise AssertionError  # pragma: no cover


def _int(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def _shown(path: str) -> str:
    """A path as quoted in a message: printable, at most 120 characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in path)
    return text if len(text) <= 120 else text[:117] + "…"


def _bomb(detail: str) -> ArchiveRefused:
    return ArchiveRefused(
        "zip_bomb",
        f"Archive refusée : c'est une bombe de décompression ({detail}). Rien n'en a été extrait.",
    )


def _refuse(code: str, detail: str) -> ArchiveRefused:
    return ArchiveRefused(code, f"Archive refusée : {detail}.")


# --------------------------------------------------------------------------------------------
# Paths, tests
# --------------------------------------------------------------------------------------------

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Control characters, undecodable bytes (replaced or surrogate-escaped), and the bidirectional
# controls that make "evil\u202etxt.exe" display as "evilexe.txt".
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
VENDORED_DIRS = frozenset(
    {"node_modules", "vendor", "bower_components", ".git", ".hg", ".svn", ".venv", "venv", "__pycache__",
     "site-packages", ".tox", ".mypy_cache", ".pytest_cache"}
)  # fmt: skip
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "e2e", "cypress"})
_TEST_FILE_RE = re.compile(
    r"""^(?:
        test_.+\.py | .+_tests?\.py | conftest\.py
      | .+_test\.go
      | .+(?:Test|Tests|TestCase|IT)\.(?:java|kt|scala|groovy)
      | .+(?:Test|Tests)\.(?:php|cs|swift)
      | .+\.(?:test|spec)\.(?:js|jsx|ts|tsx|mjs|cjs|mts|cts|vue)
      | .+_(?:spec|test)\.rb
      | .+_test\.(?:c|cc|cpp|rs|exs|dart)
      | test_.+\.(?:c|cc|cpp|sh)
    )$""",
    re.VERBOSE,
)


def is_test_path(path: str) -> bool:
    """True for a file that looks like a test: under ``tests/``, ``src/test/``..., or named like one."""
    parts = path.split("/")
    if any(part in VENDORED_DIRS for part in parts[:-1]):
        return False
    if any(part.lower() in TEST_DIRS for part in parts[:-1]):
        return True
    return bool(_TEST_FILE_RE.match(parts[-1]))


def _is_vendored(path: str) -> bool:
    return any(part in VENDORED_DIRS for part in path.split("/")[:-1])


def _normalise(raw: str, limits: ArchiveLimits) -> str:
    """A safe relative path for ``raw`` (an entry name), or :class:`ArchiveRefused`."""
    shown = _shown(raw)
    if not raw or _CONTROL_RE.search(raw):
        raise _refuse("unsafe_path", f"le nom d'entrée « {shown} » contient des caractères de contrôle ou invalides")
    if "\\" in raw:
        raise _refuse("unsafe_path", f"le chemin « {shown} » contient une barre oblique inversée")
    if raw.startswith("/") or _DRIVE_RE.match(raw):
        raise _refuse("unsafe_path", f"le chemin « {shown} » est absolu")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse("unsafe_path", f"le chemin « {shown} » remonte hors de l'archive (« .. »)")
    if any(_DRIVE_RE.match(part) for part in parts):
        raise _refuse("unsafe_path", f"le chemin « {shown} » contient une lettre de lecteur")
    path = "/".join(parts)
    if len(path) > limits.max_path_length:
        raise _refuse("path_too_long", f"un chemin dépasse {limits.max_path_length} caractères")
    if len(parts) > limits.max_depth:
        raise _refuse("too_deep", f"le chemin « {shown} » a plus de {limits.max_depth} niveaux")
    return path


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass
class _Source:
    stream: BinaryIO
    length: int | None  # bytes, when known
    owned: bool  # opened here, closed here


def _open_source(stream_or_path: str | os.PathLike[str] | Readable) -> _Source:
    if isinstance(stream_or_path, str | os.PathLike):
        f = open(stream_or_path, "rb")  # noqa: SIM115 - closed by the caller of _open_source
        return _Source(f, os.fstat(f.fileno()).st_size, owned=True)
    stream = stream_or_path
    length = None
    if _seekable(stream):
        stream.seek(0, io.SEEK_END)
        length = stream.tell()
        stream.seek(0)
    elif hasattr(stream, "size") and isinstance(stream.size, int):
        length = stream.size
    # A stream that cannot seek is only read (``_walk_*`` spool it first), which BinaryIO cannot say.
    return _Source(stream, length, owned=False)  # type: ignore[arg-type]


def _seekable(stream: object) -> TypeGuard[IO[bytes]]:
    try:
        # Any object may come: one without seekable() raises AttributeError, which means no.
        return bool(stream.seekable())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


class _Prefixed(io.RawIOBase):
    """A read-only stream that first returns ``head``, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = len(buffer)
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._stream.read(n)
        buffer[: len(data)] = data
        return len(data)


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def detect_format(head: bytes, filename: str = "") -> str | None:
    """``"zip"``, ``"tar.gz"``, ``"tar"``, ``"unsupported"`` or None, from the first 512+ bytes."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith((b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd")):
        return "unsupported"
    if len(head) >= 512 and filename.lower().endswith(".tar"):
        return "tar"  # pre-POSIX (v7) tar has no magic; tarfile checks the header checksums
    return None


# --------------------------------------------------------------------------------------------
# Inspection
# --------------------------------------------------------------------------------------------


@dataclass
class _Walk:
    """What the readers hand back for each file: lets inspect and read_entry share the bounds."""

    report: ArchiveReport
    limits: ArchiveLimits
    # Called with (path, chunks) for each file; the callable consumes the chunks it wants.
    on_file: Callable[[str, Iterator[bytes]], None] | None
    want_content: Callable[[str], bool] = lambda path: True
    seen: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)

    def add(self, raw_name: str, *, is_dir: bool, size: int, compressed: int | None) -> str:
        limits = self.limits
        if len(self.report.entries) >= limits.max_entries:
            raise _refuse("too_many_entries", f"elle contient plus de {_int(limits.max_entries)} entrées")
        path = _normalise(raw_name, limits)
        if not path:
            if is_dir:
                return path
            raise _refuse("unsafe_path", f"le nom d'entrée « {_shown(raw_name)} » ne désigne aucun fichier")
        if is_dir:
            if path in self.seen:
                raise _refuse("duplicate_entry", f"l'entrée « {_shown(path)} » apparaît plusieurs fois")
            if path not in self.dirs:
                self.dirs.add(path)
                self.report.entries.append(ArchiveEntry(path, 0, compressed, True))
            return path
        if path in self.seen or path in self.dirs:
            raise _refuse("duplicate_entry", f"l'entrée « {_shown(path)} » apparaît plusieurs fois")
        self.seen.add(path)
        if size > limits.max_entry_size:
            raise _refuse(
                "entry_too_large",
                f"le fichier « {_shown(path)} » fait {_size(size)}, au-delà de {_size(limits.max_entry_size)}",
            )
        self.report.total_size += size
        if self.report.total_size > limits.max_total_size:
            raise _refuse("too_large", f"son contenu dépasse {_size(limits.max_total_size)} une fois décompressé")
        self.report.entries.append(ArchiveEntry(path, size, compressed, False))
        return path


def inspect_archive(
    stream_or_path: str | os.PathLike[str] | Readable,
    *,
    filename: str,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ArchiveReport:
    """List and summarise an archive; a refusal is reported in ``refused``/``reason``, never raised.

    Every file is read (in memory, in chunks) to count lines and to check that its content matches
    its header. On refusal, ``entries`` and ``languages`` are emptied: nothing of it is to be shown.
    """
    report = ArchiveReport()
    lines: dict[str, int] = {}

    def count(path: str, chunks: Iterator[bytes]) -> None:
        language = None if _is_vendored(path) else language_for_path(path)
        n = 0
        last = b"\n"
        first = True
        head = True
        for chunk in chunks:  # always drained: reading is how the content is checked
            if head:
                head = False
                if executable_kind(chunk, path.rsplit("/", 1)[-1]):
                    report.executables.append(path)
            if language is None:
                continue
            if first and looks_binary(chunk):
                language = None
                continue
            first = False
            n += chunk.count(b"\n")
            last = chunk[-1:]
        if language is not None:
            lines[language] = lines.get(language, 0) + n + (0 if last == b"\n" else 1)

    walk = _Walk(report, limits, on_file=count)
    try:
        _walk(stream_or_path, filename, walk)
    except ArchiveRefused as refused:
        return ArchiveReport(refused=refused.code, reason=refused.reason, format=report.format)
    report.languages = dict(sorted(((k, v) for k, v in lines.items() if v), key=lambda kv: (-kv[1], kv[0])))
    report.has_tests = any(not e.is_dir and is_test_path(e.path) for e in report.entries)
    return report


def read_entry(
    stream_or_path: str | os.PathLike[str] | Readable,
    *,
    filename: str,
    path: str,
    max_bytes: int,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> bytes:
    """The first ``max_bytes`` bytes of the file ``path`` of the archive (compare with its size to
    tell whether it was cut).

    The archive's listing goes through the same checks as :func:`inspect_archive` (paths, links,
    counts, declared sizes and ratios) and the entry itself is read within the same bounds; other
    entries' contents are not read (gzip streams are still decompressed, and counted, up to the end).
    Raises :class:`ArchiveRefused` or :class:`EntryNotFound`.
    """
    found: list[bytes] = []

    def grab(entry_path: str, chunks: Iterator[bytes]) -> None:
        if entry_path != path:
            for _ in chunks:
                pass
            return
        kept = bytearray()
        for chunk in chunks:  # drained to the end, so the declared size is checked
            if len(kept) < max_bytes:
                kept += chunk[: max_bytes - len(kept)]
        found.append(bytes(kept))

    walk = _Walk(ArchiveReport(), limits, on_file=grab, want_content=lambda p: p == path)
    _walk(stream_or_path, filename, walk)
    if not found:
        raise EntryNotFound(path)
    return found[0]


def _walk(stream_or_path: str | os.PathLike[str] | Readable, filename: str, walk: _Walk) -> None:
    source = _open_source(stream_or_path)
    try:
        head = _read_exactly(source.stream, 512)
        kind = detect_format(head, filename)
        walk.report.format = kind if kind in ("zip", "tar", "tar.gz") else None
        if kind is None:
            raise ArchiveRefused("not_an_archive", "Ce fichier n'est pas une archive ZIP, TAR ou TAR.GZ lisible.")
        if kind == "unsupported":
            raise ArchiveRefused(
                "unsupported",
                "Format d'archive non pris en charge : seules les archives ZIP, TAR et TAR.GZ peuvent être parcourues.",
            )
        if kind == "zip":
            _walk_zip(source, head, walk)
        else:
            _walk_tar(source, head, walk, gzipped=kind == "tar.gz")
    finally:
        if source.owned:
            source.stream.close()


# --------------------------------------------------------------------------------------------
# Zip
# --------------------------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries on disk, entries, cd size, offset, comment
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
# Only these: zipfile decompresses bzip2 and LZMA without an output bound per call, so a small
# chunk of a lying entry could expand to gigabytes before any check. Every common tool deflates.
_KNOWN_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


def _zip_directory_bounds(f: BinaryIO, length: int, limits: ArchiveLimits) -> None:
    """Refuse from the end-of-central-directory record, before zipfile reads every header into memory."""
    tail_size = min(length, _EOCD.size + 65535)
    f.seek(length - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise ArchiveRefused("corrupt", "L'archive ZIP est endommagée (répertoire central introuvable).")
    _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(tail, at)
    locator_at = at - _EOCD64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        _, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack_from(tail, locator_at)
        if eocd64_offset + _EOCD64.size <= length:
            f.seek(eocd64_offset)
            record = f.read(_EOCD64.size)
            if record[:4] == b"PK\x06\x06":
                values = _EOCD64.unpack(record)
                entries, cd_size = values[7], values[8]
    # A central-directory header is 46 bytes plus name, extra field and comment.
    if entries > limits.max_entries or cd_size > limits.max_entries * (46 + limits.max_path_length + 1024):
        raise _refuse("too_many_entries", f"elle contient plus de {_int(limits.max_entries)} entrées")
    f.seek(0)


def _walk_zip(source: _Source, head: bytes, walk: _Walk) -> None:
    limits = walk.limits
    f = source.stream
    if not _seekable(f):
        data = head + _read_exactly(f, limits.max_archive_size + 1 - len(head))
        if len(data) > limits.max_archive_size:
            raise _refuse("too_large", f"l'archive dépasse {_size(limits.max_archive_size)}")
        f = io.BytesIO(data)
        length = len(data)
    else:
        length = source.length if source.length is not None else f.seek(0, io.SEEK_END)
        f.seek(0)
    _zip_directory_bounds(f, length, limits)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise ArchiveRefused("corrupt", "L'archive ZIP est endommagée et n'a pas pu être lue.") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise _refuse("too_many_entries", f"elle contient plus de {_int(limits.max_entries)} entrées")
        files: list[tuple[str, zipfile.ZipInfo]] = []
        declared_total = 0
        for info in infos:
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            shown = _shown(info.orig_filename)
            if kind == stat.S_IFLNK:
                raise _refuse("link", f"l'entrée « {shown} » est un lien symbolique")
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _refuse("special_file", f"l'entrée « {shown} » est un fichier spécial")
            if info.flag_bits & 0x1:
                raise _refuse("encrypted", f"l'entrée « {shown} » est chiffrée par mot de passe")
            is_dir = info.is_dir() or kind == stat.S_IFDIR
            if not is_dir and info.compress_type not in _KNOWN_METHODS:
                raise ArchiveRefused(
                    "unsupported",
                    f"Archive refusée : l'entrée « {shown} » utilise une méthode de compression non prise en charge.",
                )
            # Ratio before size: 200 MiB of zeros deflated into 200 KiB is a bomb, not just a big file.
            if info.file_size > limits.ratio_min_size and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                ratio = info.file_size / max(info.compress_size, 1)
                raise _bomb(f"l'entrée « {shown} » annonce un taux de compression de {_int(round(ratio))} pour 1")
            declared_total += info.file_size
            if declared_total > limits.ratio_min_size and declared_total > limits.max_ratio * max(length, 1):
                raise _bomb("le contenu annoncé dépasse de loin la taille de l'archive")
            path = walk.add(
                info.orig_filename,  # before zipfile cuts it at a NUL
                is_dir=is_dir,
                size=info.file_size,
                compressed=info.compress_size,
            )
            if not is_dir:
                files.append((path, info))
        _check_overlaps(infos, zf.start_dir if hasattr(zf, "start_dir") else length)
        for path, info in files:
            if walk.on_file is not None and walk.want_content(path):
                walk.on_file(path, _zip_chunks(zf, info, path, limits))


def _check_overlaps(infos: list[zipfile.ZipInfo], directory_start: int) -> None:
    """Entries whose data overlap make 'non-recursive' zip bombs (Fifield, 2019)."""
    spans = sorted((info.header_offset, info.header_offset + 30 + info.compress_size) for info in infos)
    for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        if next_start < end or next_start == start:
            raise _bomb("plusieurs entrées partagent les mêmes données compressées")
    if spans and spans[-1][1] > directory_start:
        raise ArchiveRefused("corrupt", "L'archive ZIP est endommagée (données au-delà du répertoire central).")


def _zip_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limits: ArchiveLimits) -> Iterator[bytes]:
    """The entry's bytes, checking that decompression yields exactly the declared size.

    ``zipfile`` stops at the declared size (and checks the CRC there); we read through a copy of
    the header announcing more than two more chunks, and stop as soon as one byte more than the
    declared size comes out, to catch a header that lies by announcing less than the data holds.
    A truthful entry ends with its deflate stream, where zipfile checks the CRC.
    """
    probe = copy.copy(info)
    probe.file_size = info.file_size + 2 * CHUNK + 1
    total = 0
    shown = _shown(path)
    try:
        with zf.open(probe) as entry:
            while True:
                chunk = entry.read(CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > info.file_size:
                    raise _bomb(f"l'entrée « {shown} » contient plus de données que son en-tête n'en déclare")
                yield chunk
    except ArchiveRefused:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ArchiveRefused("corrupt", f"L'archive est endommagée : l'entrée « {shown} » est illisible.") from exc
    if total != info.file_size:
        raise ArchiveRefused("corrupt", f"L'archive est endommagée : l'entrée « {shown} » est tronquée.")


# --------------------------------------------------------------------------------------------
# Tar and tar.gz
# --------------------------------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """The decompressed bytes of a tar or tar.gz stream, counted against the limits as they come.

    For gzip, decompression is done here (``zlib`` with a bounded output per call), so the number
    of bytes produced and the number of compressed bytes consumed are both exact.
    """

    def __init__(self, raw: IO[bytes], *, gzipped: bool, limits: ArchiveLimits, input_chunk: int = 16 * 1024) -> None:
        self._raw = raw
        self._gzipped = gzipped
        self._limits = limits
        self._input_chunk = input_chunk
        self._decompressor = zlib.decompressobj(wbits=31) if gzipped else None
        self._pending = b""  # compressed input not yet given to the decompressor
        self._eof = False
        self.consumed = 0  # compressed (raw) bytes read
        self.produced = 0  # decompressed bytes returned

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = len(buffer)
        data = self._read(n)
        buffer[: len(data)] = data
        self.produced += len(data)
        self._check()
        return len(data)

    def _read(self, n: int) -> bytes:
        if not self._gzipped:
            data = self._raw.read(n)
            self.consumed += len(data)
            return data
        assert self._decompressor is not None
        while not self._eof:
            if self._decompressor.eof:
                rest = self._decompressor.unused_data + self._pending
                self._pending = b""
                if not rest:
                    rest = self._raw.read(self._input_chunk)
                    self.consumed += len(rest)
                if len(rest) < 2:
                    more = self._raw.read(self._input_chunk)
                    self.consumed += len(more)
                    rest += more
                if rest[:2] != b"\x1f\x8b":  # end of stream (trailing zeros are tolerated)
                    self._eof = True
                    break
                self._decompressor = zlib.decompressobj(wbits=31)  # next gzip member
                self._pending = rest
            if not self._pending:
                self._pending = self._raw.read(self._input_chunk)
                self.consumed += len(self._pending)
                if not self._pending:
                    raise ArchiveRefused("corrupt", "L'archive TAR.GZ est tronquée.")
            try:
                data = self._decompressor.decompress(self._pending, n)
            except zlib.error as exc:
                raise ArchiveRefused("corrupt", "L'archive TAR.GZ est endommagée.") from exc
            self._pending = self._decompressor.unconsumed_tail
            if data:
                return data
        return b""

    def _check(self) -> None:
        limits = self._limits
        # Tar adds 512 bytes of header and up to 511 of padding per entry, and a few KiB at the end.
        ceiling = limits.max_total_size + limits.max_entries * 1536 + 64 * 1024
        if self.produced > ceiling:
            raise _refuse("too_large", f"son contenu dépasse {_size(limits.max_total_size)} une fois décompressé")
        if (
            self._gzipped
            and self.produced > limits.ratio_min_size
            and self.produced > limits.max_ratio * max(self.consumed, 1)
        ):
            raise _bomb(f"plus de {limits.max_ratio:.0f} octets décompressés pour chaque octet de l'archive")


def _walk_tar(source: _Source, head: bytes, walk: _Walk, *, gzipped: bool) -> None:
    limits = walk.limits
    # _Prefixed is a RawIOBase, whose read() may give None (a non-blocking stream; never this one): not IO[bytes].
    reader = _CountingReader(_Prefixed(head, source.stream), gzipped=gzipped, limits=limits)  # type: ignore[arg-type]
    stream = io.BufferedReader(reader, buffer_size=CHUNK)
    label = "TAR.GZ" if gzipped else "TAR"
    try:
        tf = tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="replace")  # noqa: SIM115
    except ArchiveRefused:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        if gzipped:
            raise ArchiveRefused(
                "unsupported", "Ce fichier compressé par gzip ne contient pas une archive TAR."
            ) from exc
        raise ArchiveRefused("corrupt", f"L'archive {label} est endommagée et n'a pas pu être lue.") from exc
    with tf:
        try:
            while True:
                member = tf.next()
                if member is None:
                    break
                _tar_member(tf, member, walk, reader, gzipped=gzipped)
        except ArchiveRefused:
            raise
        except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError, zlib.error) as exc:
            raise ArchiveRefused("corrupt", f"L'archive {label} est endommagée et n'a pas pu être lue.") from exc


def _tar_member(
    tf: tarfile.TarFile, member: tarfile.TarInfo, walk: _Walk, reader: _CountingReader, *, gzipped: bool
) -> None:
    shown = _shown(member.name)
    if member.issym() or member.islnk():
        raise _refuse("link", f"l'entrée « {shown} » est un lien")
    if member.ischr() or member.isblk() or member.isfifo() or member.issparse():
        raise _refuse(
            "special_file", f"l'entrée « {shown} » est un fichier spécial (périphérique, FIFO ou fichier creux)"
        )
    if not (member.isfile() or member.isdir()):
        raise _refuse("special_file", f"l'entrée « {shown} » est d'un type non pris en charge")
    path = walk.add(member.name, is_dir=member.isdir(), size=0 if member.isdir() else member.size, compressed=None)
    if member.isdir() or walk.on_file is None or not walk.want_content(path):
        return
    extracted = tf.extractfile(member)
    if extracted is None:  # pragma: no cover - regular files always extract
        return
    walk.on_file(path, _tar_chunks(extracted, member, path, walk.limits, reader, gzipped=gzipped))


def _tar_chunks(
    extracted: IO[bytes],
    member: tarfile.TarInfo,
    path: str,
    limits: ArchiveLimits,
    reader: _CountingReader,
    *,
    gzipped: bool,
) -> Iterator[bytes]:
    """The member's bytes; in a tar.gz, the ratio of this member alone is watched as it is read."""
    start = reader.consumed
    total = 0
    # Our reader and tarfile's buffers read ahead: allow that much compressed input to be missed.
    slack = 3 * CHUNK
    with extracted:
        while chunk := extracted.read(CHUNK):
            total += len(chunk)
            if total > member.size:  # pragma: no cover - tarfile never returns more than the header says
                raise _bomb(f"l'entrée « {_shown(path)} » contient plus de données que son en-tête n'en déclare")
            if (
                gzipped
                and total > limits.ratio_min_size
                and total > limits.max_ratio * (reader.consumed - start + slack)
            ):
                raise _bomb(
                    f"l'entrée « {_shown(path)} » a un taux de compression supérieur à {limits.max_ratio:.0f} pour 1"
                )
            yield chunk
    if total != member.size:
        raise ArchiveRefused("corrupt", f"L'archive est endommagée : l'entrée « {_shown(path)} » est tronquée.")
