"""Checks of this API that schemathesis's built-in ones do not express, loaded by scripts/schemathesis
through SCHEMATHESIS_HOOKS. Each run of the script enables one of them:

- `valid_key_accepted` (the run with the valid key, $ORDERS_ST_VALID_KEY): a request that carried
  the valid key must never be answered 403. Without this, a key that does not reach the server would
  turn the whole run into 403s, which the document allows, and the run would pass having tested
  nothing. Requests that schemathesis sends without the key on purpose (the coverage phase's
  "missing credentials" cases) must get the seed's 403 JSON body.
- `forbidden_without_valid_key` (the runs without a key and with a wrong one): every response must
  be 403, `Content-Type: application/json`, body exactly {"message":"Forbidden"}, and every request
  must really have carried no key ($ORDERS_ST_EXPECTED_KEY empty) or exactly the wrong key.

Both count the cases they checked per operation and schemathesis phase (cases of the valid-key run
count only when they carried the valid key), write the counts to $ORDERS_ST_COUNTS (JSON) for the
script to print, and fail the run, once it is over, when
- an operation of the document ($ORDERS_ST_OPERATIONS, one "METHOD /path" per line) got fewer than
  $ORDERS_ST_MIN_CASES_PER_OPERATION cases (default 1),
- all operations together got fewer than $ORDERS_ST_MIN_CASES_TOTAL cases (default 1),
- $ORDERS_ST_REQUIRE_2XX is 1 and an operation never answered 2xx (its success path was never
  reached, so its response schema was never checked).
So no run can pass without having tested every operation.
"""

from __future__ import annotations

import json
import os
import threading

import schemathesis

API_KEY_HEADER = "x-api-key"
FORBIDDEN_BODY = {"message": "Forbidden"}


class _Tally:
    """Distinct case ids per operation and phase, and the operations that answered 2xx. Sets, not
    counters: schemathesis may call a check again for the same case (shrinking, replays)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cases: dict[str, dict[str, set[str]]] = {}
        self._succeeded: set[str] = set()

    def add(self, case, response) -> None:
        phase = case.meta.phase.name.value if case.meta is not None else "explicit"
        label = case.operation.label
        with self._lock:
            self._cases.setdefault(label, {}).setdefault(phase, set()).add(case.id)
            if 200 <= response.status_code < 300:
                self._succeeded.add(label)

    def verify_and_write(self) -> None:
        counts = {
            label: {phase: len(ids) for phase, ids in sorted(phases.items())}
            for label, phases in sorted(self._cases.items())
        }
        path = os.environ.get("ORDERS_ST_COUNTS")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump({"cases": counts, "succeeded": sorted(self._succeeded)}, out, indent=2)
        expected = [line.strip() for line in os.environ.get("ORDERS_ST_OPERATIONS", "").splitlines() if line.strip()]
        if not expected:
            raise AssertionError("ORDERS_ST_OPERATIONS is empty: the script must list the document's operations")
        per_operation = int(os.environ.get("ORDERS_ST_MIN_CASES_PER_OPERATION", "1"))
        total_wanted = int(os.environ.get("ORDERS_ST_MIN_CASES_TOTAL", "1"))
        problems = []
        for label in expected:
            got = sum(counts.get(label, {}).values())
            if got < per_operation:
                problems.append(f"{label} was tested by {got} cases, fewer than {per_operation}")
        total = sum(sum(phases.values()) for phases in counts.values())
        if total < total_wanted:
            problems.append(f"{total} cases in all, fewer than {total_wanted}")
        if os.environ.get("ORDERS_ST_REQUIRE_2XX") == "1":
            problems += [f"{label} never answered 2xx" for label in expected if label not in self._succeeded]
        if problems:
            raise AssertionError("The run did not test what it must: " + "; ".join(problems))


def _sent_key(response) -> str | None:
    for name, value in response.request.headers.items():
        if name.lower() == API_KEY_HEADER:
            return value
    return None


def _forbidden_problem(response) -> str | None:
    """Why this response is not the seed's 403 JSON body; None when it is."""
    if response.status_code != 403:
        return f"expected 403, got {response.status_code}"
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if content_type.split(";")[0].strip().lower() != "application/json":
        return f"expected Content-Type application/json on the 403, got {content_type!r}"
    try:
        body = json.loads(response.content)
    except ValueError as error:
        return f"the 403 body is not JSON: {error}"
    if body != FORBIDDEN_BODY:
        return f"expected the 403 body {FORBIDDEN_BODY}, got {body}"
    return None


@schemathesis.check
class valid_key_accepted:  # noqa: N801 (the class name is the check's name in the configuration)
    """With the valid key, never 403; without it (schemathesis's own probes), the seed's 403."""

    def __init__(self) -> None:
        self.tally = _Tally()
        self.valid_key = os.environ.get("ORDERS_ST_VALID_KEY", "")

    def after_response(self, ctx, response, case):
        if not self.valid_key:
            raise AssertionError("ORDERS_ST_VALID_KEY is not set: the script must give the valid key")
        sent = _sent_key(response)
        if sent == self.valid_key:
            self.tally.add(case, response)
            if response.status_code == 403:
                raise AssertionError("403 although the request carried the valid key: the key was refused")
        else:
            problem = _forbidden_problem(response)
            if problem is not None:
                raise AssertionError(f"A request without the valid key (x-api-key: {sent!r}): {problem}")

    def after_run(self, ctx):
        self.tally.verify_and_write()


@schemathesis.check
class forbidden_without_valid_key:  # noqa: N801
    """Without a key, or with a wrong one, every route answers the seed's 403 JSON body."""

    def __init__(self) -> None:
        self.tally = _Tally()
        # Empty: no key may be sent. Anything else: the wrong key every request must carry.
        self.expected_key = os.environ.get("ORDERS_ST_EXPECTED_KEY")

    def after_response(self, ctx, response, case):
        if self.expected_key is None:
            raise AssertionError("ORDERS_ST_EXPECTED_KEY is not set: the script must say which key is sent")
        self.tally.add(case, response)
        sent = _sent_key(response)
        if self.expected_key == "" and sent is not None:
            raise AssertionError(f"The request carried x-api-key: {sent!r} in the run without a key")
        if self.expected_key != "" and sent != self.expected_key:
            raise AssertionError(f"The request carried x-api-key: {sent!r}, not this run's wrong key")
        problem = _forbidden_problem(response)
        if problem is not None:
            raise AssertionError(problem)

    def after_run(self, ctx):
        self.tally.verify_and_write()
