"""Test and coverage reports: real pytest output, committed samples of other tools, hostile XML.

The samples under ``tests/fixtures/reports/`` are described in the README there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portfolio.analysis import reports
from portfolio.analysis.reports import (
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    CoverageReport,
    TestReport,
    UnreadableReport,
    parse_report,
)
from tests.factories import EXAMPLE_TESTS
from tests.factories import report_fixture as fixture

FIXTURES = Path(__file__).parent / "fixtures" / "reports"

def as_test_report(data: bytes) -> TestReport:
    report = parse_report(data)
    assert isinstance(report, TestReport), report
    return report


def statuses(report: TestReport) -> dict[str, str]:
    return {case.name: case.status for suite in report.suites for case in suite.cases}


# --------------------------------------------------------------------------------------------
# A real pytest report
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["xunit2", "xunit1"])
def pytest_junit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Run pytest on a generated test file (1 pass, 1 failure, 1 error, 1 skip) and return its junit XML."""
    tmp_path = tmp_path_factory.mktemp(f"pytest-{request.param}")
    example = tmp_path / "example"
    example.mkdir()
    (example / "test_example.py").write_text(EXAMPLE_TESTS)
    ini = tmp_path / "pytest.ini"
    ini.write_text(f"[pytest]\njunit_family = {request.param}\n")  # not the repository's configuration
    out = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "pytest", str(example), "--junitxml", str(out), "-p", "no:cacheprovider", "-q",
         "-c", str(ini), "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # tests failed, as intended
    return out.read_bytes()


def test_real_pytest_report(pytest_junit: bytes) -> None:
    assert b"<testsuite " in pytest_junit  # a genuine pytest report, not a hand-written one
    report = as_test_report(pytest_junit)
    assert (report.tests, report.passed, report.failures, report.errors, report.skipped) == (4, 1, 1, 1, 1)
    assert report.duration is not None and report.duration > 0
    assert len(report.suites) == 1
    suite = report.suites[0]
    assert suite.name == "pytest"
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 1, 1)
    assert statuses(report) == {
        "test_addition": "passed",
        "test_subtraction": "failed",
        "test_needs_database": "error",
        "test_later": "skipped",
    }
    cases = {case.name: case for case in suite.cases}
    assert cases["test_addition"].classname == "example.test_example"
    assert cases["test_addition"].message is None and cases["test_addition"].detail is None
    failed = cases["test_subtraction"]
    assert "subtraction is broken" in failed.message
    assert "assert 3 - 1 == 1" in failed.detail
    error = cases["test_needs_database"]
    assert "database unavailable" in error.message or "database unavailable" in error.detail
    assert cases["test_later"].message == "not ready yet"
    summary = report.summary()
    assert summary == {
        "tests": 4,
        "passed": 1,
        "failures": 1,
        "errors": 1,
        "skipped": 1,
        "duration": round(report.duration, 3),
    }


# --------------------------------------------------------------------------------------------
# Committed samples of other tools
# --------------------------------------------------------------------------------------------


def test_surefire() -> None:
    report = as_test_report(fixture("TEST-com.example.shop.CartServiceTest.xml"))
    assert report.summary() == {"tests": 5, "passed": 2, "failures": 1, "errors": 1, "skipped": 1, "duration": 0.087}
    [suite] = report.suites
    assert suite.name == "com.example.shop.CartServiceTest"
    assert statuses(report) == {
        "addsAnItemToAnEmptyCart": "passed",
        "appliesTheDiscountOnce": "passed",
        "computesTheTotalWithVat": "failed",
        "rejectsANegativeQuantity": "error",
        "exportsTheCartAsPdf": "skipped",
    }
    cases = {case.name: case for case in suite.cases}
    assert cases["computesTheTotalWithVat"].message == "expected: <120.00> but was: <119.99>"
    assert cases["computesTheTotalWithVat"].detail.startswith("org.opentest4j.AssertionFailedError")
    assert "DEBUG" not in cases["computesTheTotalWithVat"].detail  # system-out is not the failure
    assert cases["rejectsANegativeQuantity"].message.startswith('Cannot invoke "com.example.shop.Product.price()"')
    assert cases["exportsTheCartAsPdf"].message == "PDF export not implemented yet"
    assert cases["addsAnItemToAnEmptyCart"].duration == 0.012


def test_phpunit_nested_suites() -> None:
    report = as_test_report(fixture("phpunit-junit.xml"))
    assert report.summary() == {"tests": 6, "passed": 3, "failures": 1, "errors": 1, "skipped": 1, "duration": 0.032}
    assert [(s.name, s.tests, s.failures, s.errors, s.skipped) for s in report.suites] == [
        ("App\\Tests\\Unit\\LoanTest", 3, 0, 1, 1),
        ("App\\Tests\\Unit\\LoanTest::testLateFee", 3, 1, 0, 0),
    ]
    loan = report.suites[0]
    assert loan.file == "/var/www/library/tests/Unit/LoanTest.php"
    assert loan.cases[0].classname == "App.Tests.Unit.LoanTest"
    error = loan.cases[1]
    assert error.status == "error"
    # PHPUnit writes the test id, then the message, as text: the id line is skipped.
    assert error.message.startswith("TypeError: App\\Domain\\Loan::close()")
    failure = report.suites[1].cases[2]
    assert failure.name == 'testLateFee with data set "one month late"'
    assert failure.message == "Failed asserting that 14.5 matches expected 15.0."


def test_jest_junit() -> None:
    report = as_test_report(fixture("jest-junit.xml"))
    # The root says nothing of skipped tests; the cases do.
    assert report.summary() == {"tests": 7, "passed": 5, "failures": 1, "errors": 0, "skipped": 1, "duration": 2.318}
    assert [(s.name, s.tests, s.failures, s.skipped, s.duration) for s in report.suites] == [
        ("Basket", 4, 1, 1, 1.204),
        ("formatPrice", 3, 0, 0, 0.412),
    ]
    failed = report.suites[0].cases[2]
    assert failed.status == "failed"
    assert failed.message == "Error: expect(received).toBe(expected) // Object.is equality"
    assert "Received: 19.9" in failed.detail


def test_vitest_junit() -> None:
    report = as_test_report(fixture("vitest-junit.xml"))
    assert report.summary() == {"tests": 5, "passed": 2, "failures": 1, "errors": 1, "skipped": 1, "duration": 0.742}
    assert [s.name for s in report.suites] == ["src/utils/slugify.test.ts", "src/api/client.test.ts"]
    cases = {case.name: case for suite in report.suites for case in suite.cases}
    assert cases["slugify > strips accents"].message == (
        "expected 'ecole-elementaire' to be 'école-élémentaire' // Object.is equality"
    )
    assert cases["client > retries on 503"].status == "error"
    assert cases["client > retries on 503"].message == "Network request failed"


def test_utf16_report() -> None:
    text = fixture("jest-junit.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert as_test_report(text.encode("utf-16")).tests == 7


def test_cobertura_with_doctype() -> None:
    report = parse_report(fixture("cobertura.xml"))
    assert isinstance(report, CoverageReport)
    # Lines directly under classes: 9, 6 of them hit (lines repeated under methods are not counted twice).
    assert (report.lines_valid, report.lines_covered) == (9, 6)
    assert report.line_rate == pytest.approx(6 / 9)
    assert report.branch_rate == 0.5
    assert report.coverage == 66.67
    assert report.summary() == {"coverage": 66.67}
    assert [(p.name, p.branch_rate) for p in report.packages] == [("com.example.shop", 0.5)]


def test_coverage_py_cobertura() -> None:
    report = parse_report(fixture("coverage-py.xml"))
    assert isinstance(report, CoverageReport)
    assert (report.lines_valid, report.lines_covered, report.line_rate, report.branch_rate) == (40, 34, 0.85, 0.75)
    assert report.summary() == {"coverage": 85.0}


# --------------------------------------------------------------------------------------------
# Counting rules
# --------------------------------------------------------------------------------------------


def test_counts_come_from_cases_not_from_attributes() -> None:
    data = b"""<testsuite name="liar" tests="100" failures="50" errors="0" skipped="0" time="1.5">
      <testcase name="a" classname="x" time="0.5"/>
      <testcase name="b" classname="x" time="0.25"><failure message="boom"/></testcase>
    </testsuite>"""
    report = as_test_report(data)
    assert (report.tests, report.passed, report.failures) == (2, 1, 1)
    assert report.duration == 1.5


def test_suites_without_cases_use_their_attributes() -> None:
    data = b"""<testsuites>
      <testsuite name="summary-only" tests="10" failures="2" errors="1" skipped="3" time="4.0"/>
      <testsuite name="empty" tests="0"/>
      <testsuite name="with-cases"><testcase name="a"/><testcase name="b"><skipped/></testcase></testsuite>
    </testsuites>"""
    report = as_test_report(data)
    assert [s.name for s in report.suites] == ["summary-only", "with-cases"]
    assert report.summary() == {"tests": 12, "passed": 5, "failures": 2, "errors": 1, "skipped": 4, "duration": 4.0}


def test_empty_reports() -> None:
    for data in (b"<testsuites/>", b'<testsuites name="jest tests" tests="0" failures="0" time="0.1"></testsuites>'):
        report = as_test_report(data)
        assert (report.tests, report.passed, report.suites) == (0, 0, [])


def test_failure_and_teardown_error_on_one_case() -> None:
    data = b"""<testsuite name="s"><testcase name="t">
      <failure message="assert False">detail one</failure><error message="teardown exploded">detail two</error>
    </testcase></testsuite>"""
    report = as_test_report(data)
    [case] = report.suites[0].cases
    assert (case.status, case.message, case.detail) == ("error", "teardown exploded", "detail two")
    assert (report.failures, report.errors) == (0, 1)


def test_flaky_reruns_count_as_passed() -> None:
    data = b"""<testsuite name="s"><testcase name="t" classname="C">
      <flakyFailure message="first try failed" type="java.lang.AssertionError"/>
    </testcase></testsuite>"""
    assert as_test_report(data).passed == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", 0.5), ("1,234.5", 1234.5), ("0,25", 0.25), ("NaN", None), ("-1", None), ("inf", None), ("abc", None)],
)
def test_durations(value: str, expected: float | None) -> None:
    data = f'<testsuite name="s"><testcase name="t" time="{value}"/></testsuite>'.encode()
    assert as_test_report(data).suites[0].cases[0].duration == expected


def test_namespaced_elements() -> None:
    data = b'<j:testsuites xmlns:j="urn:x"><j:testsuite name="s"><j:testcase name="t"/></j:testsuite></j:testsuites>'
    assert as_test_report(data).tests == 1


def test_many_cases_are_counted_but_not_all_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "MAX_CASES", 10)
    data = (
        b'<testsuite name="s">' + b'<testcase name="t"/>' * 25 + b"<testcase name='f'><failure/></testcase></testsuite>"
    )
    report = as_test_report(data)
    assert (report.tests, report.passed, report.failures) == (26, 25, 1)
    assert len(report.suites[0].cases) == 10 and report.cases_truncated


# --------------------------------------------------------------------------------------------
# Not reports, unreadable reports, hostile input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plain text",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b'{"tests": 3}',
        b"<html><body>hello</body></html>",
        b'<?xml version="1.0"?><project><modelVersion>4.0.0</modelVersion></project>',
        b"<coverage><note>no rates: not Cobertura</note></coverage>",
        b"<notes><unclosed>",
    ],
)
def test_not_a_report(data: bytes) -> None:
    assert parse_report(data) is None


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_entities_are_refused(name: str) -> None:
    report = parse_report(fixture(name))
    assert isinstance(report, UnreadableReport)
    assert "entités" in report.reason
    assert report.summary() == {"unreadable": True, "reason": report.reason}


def test_internal_dtd_without_entities_is_refused() -> None:
    data = (
        b'<!DOCTYPE testsuite [<!ATTLIST testcase time CDATA "999">]>'
        b'<testsuite name="s"><testcase name="t"/></testsuite>'
    )
    assert isinstance(parse_report(data), UnreadableReport)


def test_external_dtd_is_never_fetched(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY secret "pwned">')
    data = (
        f'<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "{dtd.as_uri()}">'
        '<testsuite name="s"><testcase name="t"><failure message="x">&secret;</failure></testcase></testsuite>'
    ).encode()
    report = parse_report(data)
    assert "pwned" not in repr(report)


def test_malformed_report() -> None:
    report = parse_report(fixture("malformed.xml"))
    assert isinstance(report, UnreadableReport)
    assert report.reason == "Rapport illisible : le fichier XML est mal formé ou tronqué."


@pytest.mark.parametrize(
    "data",
    [
        b'<testsuite name="s"><testcase name="t">',  # truncated
        b'<testsuite name="s" tests="1"><testcase name="t"/></testsuit>',  # mismatched tag
        b'<?xml version="1.0" encoding="no-such-encoding"?><testsuite/>',
        b'<testsuite name="s">\xff\xfe\x00</testsuite>',  # not UTF-8
        b"<coverage line-rate='0.5'><packages><package></coverage>",
    ],
)
def test_broken_reports_are_unreadable(data: bytes) -> None:
    assert isinstance(parse_report(data), UnreadableReport)


def test_report_over_the_size_limit() -> None:
    case = b'<testcase classname="big" name="test_%d" time="0.001"/>\n'
    body = b"".join(case.replace(b"%d", str(i).encode()) for i in range(30 * 1024 * 1024 // len(case) + 1))
    data = b'<?xml version="1.0"?>\n<testsuites><testsuite name="big">\n' + body + b"</testsuite></testsuites>"
    assert len(data) > 30 * 1024 * 1024
    report = parse_report(data)
    assert isinstance(report, UnreadableReport)
    assert "trop volumineux" in report.reason
    # Under a larger limit the same file is read in full.
    readable = parse_report(data, max_bytes=40 * 1024 * 1024)
    assert isinstance(readable, TestReport) and readable.tests == data.count(b"<testcase ")
    # A large XML file that is not a report is simply not a report.
    assert parse_report(b"<catalog>" + b"<book/>" * (3 * 1024 * 1024) + b"</catalog>") is None


def test_huge_attributes_are_capped() -> None:
    huge = "A" * (3 * 1024 * 1024)  # five of them: 15 MiB, under the 20 MiB limit
    data = (
        f'<testsuite name="{huge}"><testcase name="{huge}" classname="{huge}">'
        f'<failure message="{huge}">{huge}</failure></testcase></testsuite>'
    ).encode()
    report = as_test_report(data)
    [suite] = report.suites
    [case] = suite.cases
    assert len(suite.name) == MAX_NAME_CHARS and suite.name.endswith("…")
    assert len(case.name) == len(case.classname) == MAX_NAME_CHARS
    assert len(case.message) == MAX_MESSAGE_CHARS
    assert len(case.detail) == reports.MAX_DETAIL_CHARS
    assert report.failures == 1


def test_huge_system_out_is_not_kept() -> None:
    data = (
        b'<testsuite name="s"><testcase name="t"><system-out>'
        + b"log line\n" * 1_000_000
        + b"</system-out></testcase></testsuite>"
    )
    report = as_test_report(data)
    assert report.suites[0].cases[0].detail is None
    assert report.passed == 1
