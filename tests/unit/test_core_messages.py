"""The closed catalog of result message codes."""

from __future__ import annotations

import pytest

from wisesync.messages import CATALOG, Message, Severity, UnknownCode, has_errors, message

# The vocabulary the architecture fixes (section 4) and the severity each must have.
REQUIRED = {
    "GL_MAPPING_MISSING": Severity.ERROR,
    "LEDGER_ACCOUNT_MISSING": Severity.ERROR,
    "AUTH_TOKEN_INVALID": Severity.ERROR,
    "ADJUSTMENT_OVER_CAP": Severity.ERROR,
    "LEDGER_VALIDATION": Severity.ERROR,
    "ROUNDING_APPLIED": Severity.WARNING,
    "ADJUSTMENT_APPLIED": Severity.WARNING,
    "TERMS_XREF": Severity.WARNING,
    "NO_BILLING_CONTACT": Severity.WARNING,
    "SOURCE_CHANGED_AFTER_POST": Severity.WARNING,
}


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_has_severity_title_and_one_line_hint(code: str) -> None:
    entry = CATALOG[code]
    assert entry.name == code
    assert code == code.upper() and " " not in code
    assert isinstance(entry.severity, Severity)
    assert entry.title.strip(), f"{code} has no title"
    assert entry.hint.strip(), f"{code} has no fix hint"
    assert "\n" not in entry.hint, f"{code}: the hint must be one line"
    assert entry.hint != entry.title


def test_the_seed_articles_issues_map_to_codes() -> None:
    # one issue may have several codes: a ledger plugin registers its own flavour of it
    # (qbo's SYNC_TOKEN_CONFLICT is QuickBooks' Sync Token issue)
    seeds: dict[str, set[str]] = {}
    for name, c in CATALOG.items():
        if c.seed_issue:
            seeds.setdefault(c.seed_issue, set()).add(name)
    assert "AUTH_TOKEN_INVALID" in seeds["Sync Token issue"]
    assert seeds["Missing GL mapping / Non-Product ID"] == {"GL_MAPPING_MISSING"}
    assert {"Account does not exist", "Terms XRef", "No Primary or Billing Contact"} <= set(seeds)


@pytest.mark.parametrize(("code", "severity"), sorted(REQUIRED.items()))
def test_the_documented_codes_exist_with_their_severity(code: str, severity: Severity) -> None:
    assert CATALOG[code].severity is severity


def test_message_uses_the_catalog_severity_and_hint() -> None:
    m = message("GL_MAPPING_MISSING", "line 2 has no GL account", line=2)
    assert m == Message(Severity.ERROR, "GL_MAPPING_MISSING", "line 2 has no GL account", 2)
    assert m.is_error
    assert m.hint == CATALOG["GL_MAPPING_MISSING"].hint
    w = message("ROUNDING_APPLIED", "0.01 rounding")
    assert w.severity is Severity.WARNING and not w.is_error and w.line is None


def test_severity_can_be_overridden_by_value_or_name() -> None:
    assert message("TRACKING_MISSING", "t", severity="warning").severity is Severity.WARNING
    assert message("TERMS_XREF", "t", severity=Severity.ERROR).is_error
    with pytest.raises(ValueError):
        message("TERMS_XREF", "t", severity="fatal")


def test_unknown_code_raises_unknown_code_naming_it() -> None:
    with pytest.raises(UnknownCode) as info:
        message("GL_MAPPING_MISING", "typo")
    assert "GL_MAPPING_MISING" in str(info.value)
    assert "CATALOG" in str(info.value)  # says where to add it
    assert isinstance(info.value, KeyError)


def test_has_errors() -> None:
    warning = message("TERMS_XREF", "no days")
    info = message("ACKNOWLEDGED", "batch 7")
    error = message("LEDGER_ACCOUNT_MISSING", "200 archived")
    assert not has_errors([])
    assert not has_errors([warning, info])
    assert has_errors([warning, error])
    assert has_errors((error,))
    assert not has_errors([message("LEDGER_VALIDATION", "x", severity="warning")])
