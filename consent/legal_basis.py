"""What each legal basis (GDPR Art. 6(1)) is called and means for the citizen, in plain words."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from clients.claims import LegalBasis


@dataclass(frozen=True)
class Explanation:
    basis: LegalBasis
    title: str
    text: str


# Lazy: translated in the request's language when shown, not at import.
# Each basis: its label inside a sentence ("Legal basis: your consent"), its title, and
# what it means.
_EXPLANATIONS = {
    LegalBasis.CONSENT: (
        _l("your consent"),
        _l("Your consent"),
        _l(
            "You said yes to sharing this with the service. You can change your mind at any"
            " time on the page of your consents; the service then receives nothing more through"
            " Tillid. What it received before, it may keep only as long as it has a reason to."
        ),
    ),
    LegalBasis.CONTRACT: (
        _l("a contract with you"),
        _l("A contract with you"),
        _l(
            "The service needs this to do what you have agreed with it, or to prepare an"
            " agreement you asked for: for example a bank opening the account you applied for."
        ),
    ),
    LegalBasis.LEGAL_OBLIGATION: (
        _l("a legal obligation"),
        _l("A legal obligation"),
        _l(
            "A law requires the service to have this, for example a bank that must check who its"
            " customers are to prevent money laundering. It does not need your consent."
        ),
    ),
    LegalBasis.VITAL_INTEREST: (
        _l("to protect your vital interests"),
        _l("To protect your vital interests"),
        _l(
            "The information was needed to protect your life or health, or someone else's, at a"
            " time when you could not be asked, for example in an emergency at a hospital."
        ),
    ),
    LegalBasis.PUBLIC_TASK: (
        _l("a task in the public interest"),
        _l("A task in the public interest"),
        _l(
            "A public authority needs this to do a task the law gives it, such as assessing your"
            " tax or paying a benefit. It does not need your consent, but it may use the"
            " information only for that task, and you may object if your situation is special."
        ),
    ),
    LegalBasis.LEGITIMATE_INTEREST: (
        _l("a legitimate interest"),
        _l("A legitimate interest"),
        _l(
            "The service has a reason of its own that it judged to weigh more than your privacy,"
            " for example preventing fraud. You may object, and then it must stop unless its"
            " reasons outweigh yours. It can never receive your CPR number on this basis."
        ),
    ),
}


def explanations() -> list[Explanation]:
    """Every legal basis with its title and explanation, (a) to (f) as in the GDPR."""
    return [Explanation(basis, str(title), str(text))
            for basis, (_label, title, text) in _EXPLANATIONS.items()]  # fmt: skip


def label(basis: str) -> str:
    """The basis as it reads inside a sentence ("Legal basis: your consent"); a basis we
    have no words for as it is."""
    words = _EXPLANATIONS.get(basis)
    return str(words[0]) if words is not None else str(basis)


def anchor(basis: str | None) -> str | None:
    """The page fragment of a basis's explanation; None for one we have no words for."""
    return f"basis-{basis}" if basis in {b.value for b in LegalBasis} else None


# Why a release on each basis other than consent is not the citizen's to withdraw: what the
# notice says in place of the consent wording (the consent and consents pages).
_NOT_WITHDRAWABLE = {
    LegalBasis.CONTRACT: _l(
        "The service needs it to do what you have agreed with it, so it does not rest on your"
        " consent."
    ),
    LegalBasis.LEGAL_OBLIGATION: _l(
        "The law requires the service to have it, so it does not rest on your consent."
    ),
    LegalBasis.VITAL_INTEREST: _l(
        "It is needed to protect your life or health, or someone else's, so it does not rest"
        " on your consent."
    ),
    LegalBasis.PUBLIC_TASK: _l(
        "The authority needs it for a task the law gives it, so it does not rest on your"
        " consent. If your situation is special, you may object to the authority."
    ),
    LegalBasis.LEGITIMATE_INTEREST: _l(
        "The service judged that its own reason weighs more than your privacy, so it does not"
        " rest on your consent. You may object to the service, and then it must stop unless"
        " its reasons outweigh yours."
    ),
}


def withdrawable(basis: str) -> bool:
    """Only what rests on the citizen's consent is theirs to withdraw."""
    return basis == LegalBasis.CONSENT


def why_not_withdrawable(basis: str) -> str:
    """For a basis other than consent: why the citizen cannot withdraw what it gives, in
    plain words; empty for consent (it can be withdrawn)."""
    why = _NOT_WITHDRAWABLE.get(basis)
    return str(why) if why is not None else ""
