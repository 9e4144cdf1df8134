"""What a citizen and a service must get while a backend is away: a clear 503 with Retry-After
(a readable page in the browser, JSON on the APIs), quickly, and never a 500."""

from __future__ import annotations

from tests.faults.browserless import Answer

SLOWEST_ANSWER_SECONDS = 5
UNAVAILABLE_TITLE = "The service is temporarily unavailable"


def check_unavailable(answer: Answer) -> str | None:
    """What is wrong with a 503, if anything."""
    if not (answer.retry_after or "").isdigit():
        return "no Retry-After"
    if answer.for_browser:
        if not answer.content_type.startswith("text/html") or UNAVAILABLE_TITLE not in answer.body:
            return "not the readable page"
    elif answer.path in ("/token", "/userinfo", "/introspect", "/revoke"):
        if not answer.content_type.startswith("application/json") or '"error"' not in answer.body:
            return "not an OAuth error in JSON"
    elif not answer.content_type.startswith(("application/problem+json", "application/json")):
        return "not JSON"
    return None


def faulty(answers: list[Answer], slowest: float = SLOWEST_ANSWER_SECONDS) -> list[str]:
    """Every answer a working-but-degraded Tillid must not give: no answer, slow, a 5xx other
    than 503, a 503 without Retry-After or in the wrong shape, a 4xx (nothing here is the
    caller's mistake)."""
    wrong = []
    for answer in answers:
        if answer.status is None:
            wrong.append(f"no answer: {answer}")
        elif answer.seconds > slowest:
            wrong.append(f"slow: {answer}")
        elif answer.status == 503:
            problem = check_unavailable(answer)
            if problem:
                wrong.append(f"{problem}: {answer}")
        elif answer.status >= 400:
            wrong.append(f"error: {answer}")
    return wrong
