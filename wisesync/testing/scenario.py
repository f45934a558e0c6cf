"""The shared sandbox scenario (docs/sandbox-scenario.md) as a ledger plugin's tests run it.

The plugin's test module extracts every case the ConnectWise sandbox seeds, posts the
events into its ledger sandbox with :func:`post_as_poster`, and yields them from a
module-scoped ``scenario`` fixture as ``(source_app, ledger_app, results, held)``:
``results`` maps a source id to ``(status, messages, event)``, ``held`` lists what the
extractor held back. The cases every ledger must answer alike come from
:func:`scenario_case_tests`::

    TestScenarioCases = scenario_case_tests()      # or clean=SEED_CLEAN | {...}, ...

and its own checks read one case's outcome with :func:`case_result`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from wisesync.events.models import RecordEvent, Status
from wisesync.messages import Message, has_errors
from wisesync.protocols import Held, Target, TargetContext

#: The seed's cases (docs/sandbox-scenario.md) every ledger fails with the code given.
SEED_ERRORS = {
    "account_477": "LEDGER_ACCOUNT_MISSING",  # an account the ledger has made inactive
    "account_4999": "LEDGER_ACCOUNT_MISSING",
    "mapping_empty": "GL_MAPPING_MISSING",
    "no_npid": "GL_MAPPING_MISSING",
    "expense_mapping_empty": "GL_MAPPING_MISSING",
    "gst99": "TAX_CODE_INVALID",
    # ConnectWise's 15% tax code against the ledger's 10% OUTPUT: over the cap
    "adjustment_large": "ADJUSTMENT_OVER_CAP",
}
#: The seed's cases every ledger posts with the warning given.
SEED_WARNINGS = {
    "rounding": "SOURCE_AMOUNT_ROUNDED",  # 7-decimal figures rounded at extraction
    "ledger_rounding": "ROUNDING_APPLIED",  # a 4-dp unit price is 0.03 short
    "adjustment_small": "ADJUSTMENT_APPLIED",  # 10.5% in ConnectWise, 10% in the ledger
    "long_description": "DESCRIPTION_TRUNCATED",
    "no_billing_contact": "NO_BILLING_CONTACT",
    "no_contacts": "NO_BILLING_CONTACT",
    "terms_eom": "TERMS_XREF",
    "tracking_perth": "TRACKING_MISSING",
}
#: The seed's cases every ledger posts without a mapping error.
SEED_CLEAN = frozenset({
    "standard", "agreement", "credit_memo", "exempt", "zero_total", "unicode_name",
    "apostrophe_name", "quote_name", "large_amounts", "mixed_tax", "receipt_freight",
    "receipt_multi", "reimbursable", "non_reimbursable", "no_primary_contact",
    "down_payment", "progress", "foreign_currency", "expense_bill",
    "inventory_adjustment", "inventory_transfer", "terms_month_end", "terms_following_month",
    "contact_before_change",
})  # fmt: skip
#: Records the extractor holds, whatever the ledger: an inconsistent export (header total
#: not what the details add up to), no lines at all, or a held billing status.
SEED_HELD = {
    "totals_mismatch": "SOURCE_TOTALS_MISMATCH",
    "zero_line": "SOURCE_FIELD_INVALID",
    "finance_hold": "BILLING_STATUS_HOLD",
}

#: One posted (or refused) record: its status, the target's messages and the event.
Result = tuple[Status, list[Message], RecordEvent]
#: Codes a record that should post cleanly must never carry.
MAPPING_ERRORS = {"GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "TAX_CODE_INVALID"}


def split_held(extracted: Iterable[RecordEvent | Held]) -> tuple[list[RecordEvent], list[Held]]:
    """What a source's ``extract`` gave, as (events to post, records it held)."""
    items = list(extracted)
    return [e for e in items if not isinstance(e, Held)], [h for h in items if isinstance(h, Held)]


def post_as_poster(
    target: Target, ctx: TargetContext, events: list[RecordEvent], chunk: int
) -> list[Result]:
    """Validate and post ``events`` as the poster does, ``chunk`` at a time: a record with
    errors fails alone, the rest of its chunk is posted; one result per event."""
    out: list[Result] = []
    for start in range(0, len(events), chunk):
        valid = []
        for event in events[start : start + chunk]:
            messages = target.validate(event, ctx)
            if has_errors(messages):
                out.append((Status.FAILED, messages, event))
            else:
                valid.append(event)
        for event, outcome in zip(valid, target.post(valid, ctx), strict=True):
            out.append((outcome.status, outcome.messages, event))
    return out


def case_result(
    cases: Mapping[str, Any], results: Mapping[str, Result], case: str
) -> tuple[Status, set[str], RecordEvent]:
    """(status, message codes, event) of the seeded ``case`` (``cases``: the source
    sandbox's case -> id or number); the codes include the source's own messages, as the
    poster reports them with the target's."""
    ref = str(cases[case])
    for status, messages, event in results.values():
        if ref in (event.source_id, event.document_number):
            return status, {m.code for m in [*messages, *event.source_messages]}, event
    raise AssertionError(f"case {case} ({ref}) was not extracted")


def scenario_case_tests(
    errors: Mapping[str, str] = SEED_ERRORS,
    warnings: Mapping[str, str] = SEED_WARNINGS,
    clean: Iterable[str] = SEED_CLEAN,
    held: Mapping[str, str] = SEED_HELD,
) -> type:
    """A test class checking every seeded case against the module's ``scenario`` fixture:
    ``errors`` (case -> code) fail with their code, ``warnings`` post with theirs,
    ``clean`` cases post without a mapping error, ``held`` ones (case -> code) are held
    by the extractor with their code and never posted. The defaults are the seed's
    documented outcomes; a ledger passes more (or other) cases where it has them."""

    class ScenarioCases:
        @pytest.mark.parametrize("case", sorted(errors))
        def test_error_cases(self, scenario: Any, case: str) -> None:
            status, codes, _ = case_result(scenario[0].cases, scenario[2], case)
            assert status is Status.FAILED and errors[case] in codes, codes

        @pytest.mark.parametrize("case", sorted(warnings))
        def test_warning_cases_post_with_their_code(self, scenario: Any, case: str) -> None:
            status, codes, _ = case_result(scenario[0].cases, scenario[2], case)
            assert status is Status.POSTED and warnings[case] in codes, codes

        @pytest.mark.parametrize("case", sorted(clean))
        def test_clean_cases_post(self, scenario: Any, case: str) -> None:
            status, codes, _ = case_result(scenario[0].cases, scenario[2], case)
            assert status is Status.POSTED, codes
            assert not MAPPING_ERRORS & codes

        @pytest.mark.parametrize("case", sorted(held))
        def test_held_cases_are_not_extracted(self, scenario: Any, case: str) -> None:
            source_app, _, results, held_records = scenario
            ref = str(source_app.cases[case])
            assert all(ref not in (e.source_id, e.document_number) for _, _, e in results.values())
            codes = [h.code for h in held_records if ref in (h.source_id, h.document_number)]
            assert codes == [held[case]]

    return ScenarioCases
