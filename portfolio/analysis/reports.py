"""Test reports (JUnit XML) and coverage reports (Cobertura XML), read safely.

:func:`parse_report` takes the bytes of a file and returns

* a :class:`TestReport` for JUnit XML as written by pytest ``--junitxml``, Maven Surefire
  (``TEST-*.xml``), PHPUnit ``--log-junit``, jest-junit and Vitest's ``junit`` reporter: a root
  ``testsuites`` or ``testsuite``, suites possibly nested, ``testcase`` elements holding
  ``failure``, ``error`` or ``skipped``;
* a :class:`CoverageReport` for Cobertura XML (``coverage`` root with ``line-rate``), as written by
  coverage.py, Cobertura, JaCoCo converters, PHPUnit ``--coverage-cobertura``, Jest/Vitest/istanbul;
* an :class:`UnreadableReport` (with a French reason) for a file that claims to be one of these but
  cannot be read: malformed, truncated, over :data:`MAX_REPORT_BYTES`, or carrying a DTD internal
  subset or entity declarations (billion laughs, external entities);
* None for anything else (another XML document, not XML at all).

It never raises on bad input. The XML is parsed with ``defusedxml`` as a stream of events (no tree
is built): entity declarations and external references are refused, a ``<!DOCTYPE>`` that only
names an external DTD (Cobertura writes one) is accepted and never fetched. Kept text is capped:
names, messages and failure details are cut (:data:`MAX_NAME_CHARS`, :data:`MAX_MESSAGE_CHARS`,
:data:`MAX_DETAIL_CHARS`), ``system-out``/``system-err`` are skipped, and at most
:data:`MAX_CASES` cases are kept in detail (counts still cover all of them).

Counts are computed from the test cases, not taken from the ``tests``/``failures`` attributes,
which tools write inconsistently (jest-junit has no ``skipped`` at the root, PHPUnit counts
data-set suites, a hand-edited file can say anything). A suite without cases falls back on its
attributes.

Over 400 lines: two report formats over one safe XML reading; one module a format is the next step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser

__all__ = [
    "MAX_REPORT_BYTES",
    "Case",
    "CoveragePackage",
    "CoverageReport",
    "Suite",
    "TestReport",
    "UnreadableReport",
    "parse_report",
]

MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 500
MAX_MESSAGE_CHARS = 2_000
MAX_DETAIL_CHARS = 16_000
MAX_CASES = 20_000
MAX_PACKAGES = 2_000
FEED_CHUNK = 64 * 1024

Status = Literal["passed", "failed", "error", "skipped"]


@dataclass
class Case:
    name: str
    classname: str | None
    status: Status
    duration: float | None  # seconds
    message: str | None = None
    detail: str | None = None  # failure text (stack trace...), truncated


@dataclass
class Suite:
    name: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    duration: float | None = None
    cases: list[Case] = field(default_factory=list)
    file: str | None = None  # PHPUnit, Vitest

    @property
    def passed(self) -> int:
        return max(0, self.tests - self.failures - self.errors - self.skipped)


@dataclass
class TestReport:
    __test__ = False  # not a pytest test class

    tests: int
    passed: int
    failures: int
    errors: int
    skipped: int
    duration: float | None
    suites: list[Suite]
    cases_truncated: bool = False  # more than MAX_CASES cases: the rest are counted, not listed

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.errors == 0

    def summary(self) -> dict[str, Any]:
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "duration": None if self.duration is None else round(self.duration, 3),
        }


@dataclass
class CoveragePackage:
    name: str
    line_rate: float | None
    branch_rate: float | None


@dataclass
class CoverageReport:
    line_rate: float | None  # 0..1
    branch_rate: float | None  # 0..1
    lines_covered: int | None
    lines_valid: int | None
    packages: list[CoveragePackage] = field(default_factory=list)

    @property
    def coverage(self) -> float | None:
        """Line coverage in percent, two decimals."""
        return None if self.line_rate is None else round(self.line_rate * 100, 2)

    def summary(self) -> dict[str, Any]:
        return {"coverage": self.coverage}


@dataclass
class UnreadableReport:
    reason: str  # French, for people

    def summary(self) -> dict[str, Any]:
        return {"unreadable": True, "reason": self.reason}


Report = TestReport | CoverageReport | UnreadableReport


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _cut(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"\d{1,12}", value):
        return None
    return int(value)


_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def _float(value: str | None) -> float | None:
    """A non-negative finite number; accepts ``1,234.5`` (old Surefire) and ``0,25`` (decimal comma)."""
    if value is None:
        return None
    value = value.strip()[:64]
    if _THOUSANDS_RE.match(value):
        value = value.replace(",", "")
    elif value.count(",") == 1 and "." not in value:
        value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _rate(value: str | None) -> float | None:
    number = _float(value)
    return None if number is None or number > 1 else number


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _NotAReport(Exception):
    """Raised from the parser target to stop at a root element we do not read."""


class _SafeParser(DefusedXMLParser):
    """defusedxml, forbidding entities and external references, and DTDs with an internal subset.

    A bare ``<!DOCTYPE coverage SYSTEM "...coverage-04.dtd">`` (Cobertura) declares nothing and is
    never fetched, so it is accepted.
    """

    def __init__(self, target: Any) -> None:
        super().__init__(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        # (Not named _doctype: XMLParser keeps an attribute of that name.)
        self.parser.StartDoctypeDeclHandler = self._check_doctype

    def _check_doctype(self, name: str, sysid: str | None, pubid: str | None, has_internal_subset: int) -> None:
        if has_internal_subset:
            raise DTDForbidden(name, sysid, pubid)


class _SuiteBuilder:
    def __init__(self, attrib: dict[str, str], order: int) -> None:
        self.attrib = attrib
        self.order = order  # document order of the opening tag
        self.suite = Suite(
            name=_cut(attrib.get("name"), MAX_NAME_CHARS) or "",
            duration=_float(attrib.get("time")),
            file=_cut(attrib.get("file") or attrib.get("filepath"), MAX_NAME_CHARS),
        )
        self.case_count = 0
        self.has_children = False
        self.counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        self.case_time = 0.0
        self.case_time_known = False
        self.child_time: float | None = None  # sum of the direct child suites' durations


class _Target:
    """Parser target (start/end/data events) building a report without keeping the XML tree."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "junit" or "coverage"
        self.depth = 0
        # JUnit
        self.root_attrib: dict[str, str] = {}
        self.stack: list[_SuiteBuilder] = []
        self.suites: list[tuple[int, Suite]] = []
        self.duration: float | None = None
        self.opened = 0
        self.kept_cases = 0
        self.cases_truncated = False
        self.case: dict[str, Any] | None = None
        self.status_tag: str | None = None
        self.text: list[str] = []
        self.text_len = 0
        self.collect_text = False
        # Coverage
        self.coverage_attrib: dict[str, str] = {}
        self.path: list[str] = []
        self.lines_valid = 0
        self.lines_covered = 0
        self.packages: list[CoveragePackage] = []

    # -- events ---------------------------------------------------------------------------

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local(tag)
        self.depth += 1
        self.path.append(name)
        if self.depth == 1:
            if name in ("testsuites", "testsuite"):
                self.kind = "junit"
                self.root_attrib = dict(attrib)
            elif name == "coverage" and ("line-rate" in attrib or "lines-valid" in attrib):
                self.kind = "coverage"
                self.coverage_attrib = dict(attrib)
            else:
                raise _NotAReport
        if self.kind == "junit":
            self._junit_start(name, attrib)
        else:
            self._coverage_start(name, attrib)

    def end(self, tag: str) -> None:
        name = _local(tag)
        if self.kind == "junit":
            self._junit_end(name)
        self.path.pop()
        self.depth -= 1

    def data(self, text: str) -> None:
        if self.collect_text and self.text_len <= MAX_DETAIL_CHARS:
            self.text.append(text)
            self.text_len += len(text)

    def close(self) -> None:
        return None

    # -- JUnit ----------------------------------------------------------------------------

    def _junit_start(self, name: str, attrib: dict[str, str]) -> None:
        if name == "testsuite" or (name == "testsuites" and self.depth == 1):
            if self.stack:
                self.stack[-1].has_children = True
            self._open_suite(attrib)
        elif name == "testcase" and self.case is None:
            self.case = {
                "name": _cut(attrib.get("name"), MAX_NAME_CHARS) or "",
                "classname": _cut(attrib.get("classname") or attrib.get("class"), MAX_NAME_CHARS),
                "duration": _float(attrib.get("time")),
                "status": "passed",
                "message": None,
                "detail": None,
            }
        elif self.case is not None and name in ("failure", "error", "skipped") and self.path[-2] == "testcase":
            status = {"failure": "failed", "error": "error", "skipped": "skipped"}[name]
            # One case, several outcomes (pytest writes a failure, then a teardown error): the worst wins.
            rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
            if rank[status] > rank[self.case["status"]]:
                self.case["status"] = status
                self.case["message"] = _cut(attrib.get("message"), MAX_MESSAGE_CHARS)
                self.status_tag = name
                self.collect_text = True
                self.text = []
                self.text_len = 0

    def _junit_end(self, name: str) -> None:
        if name == self.status_tag and self.case is not None and self.collect_text:
            detail = _cut("".join(self.text), MAX_DETAIL_CHARS)
            self.case["detail"] = detail
            if self.case["message"] is None and detail:
                self.case["message"] = _first_line(detail, self.case["name"])
            self.collect_text = False
            self.status_tag = None
        elif name == "testcase" and self.case is not None and self.path.count("testcase") == 1:
            self._finish_case()
        elif name == "testsuite" or (name == "testsuites" and self.depth == 1):
            builder = self.stack.pop()
            self._finish_suite(builder)

    def _finish_case(self) -> None:
        case, self.case = self.case, None
        assert case is not None
        if not self.stack:  # pragma: no cover - the root is always a suite
            self._open_suite({})
        builder = self.stack[-1]
        builder.case_count += 1
        builder.counts[case["status"]] += 1
        if case["duration"] is not None:
            builder.case_time += case["duration"]
            builder.case_time_known = True
        if self.kept_cases < MAX_CASES:
            builder.suite.cases.append(Case(**case))
            self.kept_cases += 1
        else:
            self.cases_truncated = True

    def _finish_suite(self, builder: _SuiteBuilder) -> None:
        suite = builder.suite
        if suite.duration is None:
            if builder.child_time is not None:
                suite.duration = builder.child_time
            elif builder.case_time_known:
                suite.duration = builder.case_time
        if self.stack:
            parent = self.stack[-1]
            if suite.duration is not None:
                parent.child_time = (parent.child_time or 0.0) + suite.duration
        else:
            self.duration = suite.duration
        if builder.case_count:
            suite.tests = builder.case_count
            suite.failures = builder.counts["failed"]
            suite.errors = builder.counts["error"]
            suite.skipped = builder.counts["skipped"]
        elif builder.has_children:
            return  # its children are the suites; its own totals would count them twice
        else:
            attrib = builder.attrib
            suite.tests = _int(attrib.get("tests")) or 0
            suite.failures = _int(attrib.get("failures")) or 0
            suite.errors = _int(attrib.get("errors")) or 0
            suite.skipped = _int(attrib.get("skipped") or attrib.get("skips") or attrib.get("disabled")) or 0
            if suite.failures + suite.errors + suite.skipped > suite.tests:
                suite.tests = suite.failures + suite.errors + suite.skipped
            if not suite.tests:
                return  # an empty suite (or an empty report: zero tests, no suite)
        self.suites.append((builder.order, suite))

    def _open_suite(self, attrib: dict[str, str]) -> None:
        self.stack.append(_SuiteBuilder(attrib, self.opened))
        self.opened += 1

    def junit_report(self) -> TestReport:
        # Suites close inner first; list them in the order they were opened.
        suites = [suite for _, suite in sorted(self.suites, key=lambda item: item[0])]
        tests = sum(s.tests for s in suites)
        failures = sum(s.failures for s in suites)
        errors = sum(s.errors for s in suites)
        skipped = sum(s.skipped for s in suites)
        duration = self.duration  # the root's time, else its suites' (nested suites are within their parent's)
        return TestReport(
            tests=tests,
            passed=max(0, tests - failures - errors - skipped),
            failures=failures,
            errors=errors,
            skipped=skipped,
            duration=duration,
            suites=suites,
            cases_truncated=self.cases_truncated,
        )

    # -- Cobertura ------------------------------------------------------------------------

    def _coverage_start(self, name: str, attrib: dict[str, str]) -> None:
        if name == "package" and self.path[-2:-1] == ["packages"] and len(self.packages) < MAX_PACKAGES:
            self.packages.append(
                CoveragePackage(
                    name=_cut(attrib.get("name"), MAX_NAME_CHARS) or "",
                    line_rate=_rate(attrib.get("line-rate")),
                    branch_rate=_rate(attrib.get("branch-rate")),
                )
            )
        elif name == "line" and self.path[-3:-1] == ["class", "lines"]:
            # Lines directly under a class (those under methods repeat them).
            self.lines_valid += 1
            if (_int(attrib.get("hits")) or 0) > 0:
                self.lines_covered += 1

    def coverage_report(self) -> CoverageReport:
        attrib = self.coverage_attrib
        lines_valid: int | None
        lines_covered: int | None
        if self.lines_valid:
            lines_valid, lines_covered = self.lines_valid, self.lines_covered
        else:
            lines_valid, lines_covered = _int(attrib.get("lines-valid")), _int(attrib.get("lines-covered"))
            if lines_valid is not None and lines_covered is not None and lines_covered > lines_valid:
                lines_valid = lines_covered = None
        if lines_valid:
            line_rate: float | None = lines_covered / lines_valid if lines_covered is not None else None
        else:
            line_rate = _rate(attrib.get("line-rate"))
        branches_valid, branches_covered = _int(attrib.get("branches-valid")), _int(attrib.get("branches-covered"))
        if branches_valid and branches_covered is not None and branches_covered <= branches_valid:
            branch_rate: float | None = branches_covered / branches_valid
        else:
            branch_rate = _rate(attrib.get("branch-rate"))
        return CoverageReport(
            line_rate=line_rate,
            branch_rate=branch_rate,
            lines_covered=lines_covered,
            lines_valid=lines_valid,
            packages=self.packages,
        )


def _first_line(detail: str, case_name: str) -> str | None:
    """The message of a failure written as text only (jest-junit, PHPUnit): its first line, skipping
    the line where PHPUnit repeats the test's identifier (``Class::method``)."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    if len(lines) > 1 and case_name and f"::{case_name}" in lines[0]:
        lines = lines[1:]
    return _cut(lines[0], MAX_MESSAGE_CHARS) if lines else None


_ROOT_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(testsuites|testsuite|coverage)[\s>/]")


def _looks_like_report(head: bytes) -> bool:
    """Cheap guess for files too large to parse: is the first element a report root?"""
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>", b"", head, flags=re.DOTALL).lstrip()
    return bool(_ROOT_RE.match(text))


def _looks_like_xml(data: bytes) -> bool:
    head = data[:1024]
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            return True
    return head.lstrip().startswith(b"<")


def parse_report(data: bytes, *, max_bytes: int = MAX_REPORT_BYTES) -> Report | None:
    """A test or coverage report read from ``data``; :class:`UnreadableReport` if it cannot be read,
    None if it is not a report at all. Never raises on bad input."""
    if not _looks_like_xml(data):
        return None
    if len(data) > max_bytes:
        if not _looks_like_report(data[: 64 * 1024]):
            return None
        return UnreadableReport(f"Rapport trop volumineux pour être lu (plus de {max_bytes // (1024 * 1024)} Mio).")
    target = _Target()
    parser = _SafeParser(target)
    try:
        view = memoryview(data)
        for offset in range(0, len(data), FEED_CHUNK):
            parser.feed(bytes(view[offset : offset + FEED_CHUNK]))
        parser.close()
    except _NotAReport:
        return None
    except DefusedXmlException:
        if target.kind is None and not _looks_like_report(data[: 64 * 1024]):
            return None
        return UnreadableReport("Rapport refusé : il déclare une DTD ou des entités XML, ce qui n'est pas admis.")
    except (ParseError, ValueError, UnicodeError, LookupError, RecursionError, OverflowError):
        if target.kind is None and not _looks_like_report(data[: 64 * 1024]):
            return None
        return UnreadableReport("Rapport illisible : le fichier XML est mal formé ou tronqué.")
    if target.kind == "junit":
        return target.junit_report()
    if target.kind == "coverage":
        return target.coverage_report()
    return None
