"""The shared sandbox scenario (docs/sandbox-scenario.md) as a ledger plugin's tests run it.

The plugin's test module extracts every case the ConnectWise sandbox seeds, posts the
events into its ledger sandbox with :func:`post_as_poster`, and yields them from a
module-scoped ``scenario`` fixture as ``(source_app, ledger_app, results, held)``:
``results`` maps a source id to ``(status, messages, event)``, ``held`` lists what the
extractor held back. The cases every ledger must answer alike come from
:func:`scenario_case_tests`::

    TestScenarioCases = scenario_case_tests(ERRORS, WARNINGS, CLEAN, HELD)

and its own checks read one case's outcome with :func:`case_result`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from wisesync.events.models import RecordEvent, Status
from wisesync.messages import Message, has_errors
from wisesync.protocols import Held, Target, TargetContext

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
    errors: Mapping[str, str],
    warnings: Mapping[str, str],
    clean: Iterable[str],
    held: Mapping[str, str],
) -> type:
    """A test class checking every seeded case against the module's ``scenario`` fixture:
    ``errors`` (case -> code) fail with their code, ``warnings`` post with theirs,
    ``clean`` cases post without a mapping error, ``held`` ones (case -> code) are held
    by the extractor with their code and never posted."""

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
