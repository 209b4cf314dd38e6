"""No empty answers: what a «Выполнено» move must carry, per category.

City portals are known for «отписки»: a request marked done with nothing to show for it.
Each category says whether «Выполнено» needs a note saying what was done (the default) and
a photo of the result; :func:`check_done_evidence` refuses the move, with the Russian reason,
when either is missing. Pure logic, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.domain.errors import MissingField

NOTE_MISSING = "Опишите, что сделано: без этого заявку нельзя отметить выполненной"
PHOTO_MISSING = "Приложите фото результата работ: по категории «{category}» заявку нельзя отметить выполненной без фото"


@dataclass(frozen=True)
class DoneRule:
    """What «Выполнено» needs for one category (``category`` is its Russian name, for messages)."""

    note: bool = True
    photo: bool = False
    photo_public: bool = False
    category: str = ""


# A ticket without a (known) category: the note is required, a photo is not.
DEFAULT_DONE_RULE = DoneRule()


def check_done_evidence(rule: DoneRule, *, note: str | None, photos: int) -> None:
    """Raise :class:`MissingField` (field ``note`` or ``photo``) when the rule is not met.

    The note is checked first: it is the field an executor fills in first on the form.
    """
    if rule.note and not (note or "").strip():
        raise MissingField(NOTE_MISSING, field="note")
    if rule.photo and photos < 1:
        raise MissingField(PHOTO_MISSING.format(category=rule.category or "без категории"), field="photo")


def photo_is_public(rule: DoneRule, *, note_public: bool) -> bool:
    """Whether the done photo is shown to citizens: only where the category says its photos show
    a street (never the inside of a home), and only when the executor shows the note too."""
    return rule.photo_public and note_public
