"""The wallboard's own table (on the store's metadata): the pause reasons an admin edits."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base


class PauseReason(Base):
    """A reason an operator may give for a pause («Обед», «Обучение»...). Never deleted: switched off."""

    __tablename__ = "pause_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(60), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
