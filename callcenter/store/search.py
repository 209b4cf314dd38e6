"""Russian full-text search: FTS5 over Snowball stems on SQLite, `russian` text search on PostgreSQL."""

from __future__ import annotations

import re

import snowballstemmer
from sqlalchemy import ColumnElement, text
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.models import Ticket

_WORD = re.compile(r"[0-9a-zа-яё]+", re.IGNORECASE)


class RussianStemmer:
    """Snowball's Russian stemmer (the same algorithm PostgreSQL's `russian` config uses)."""

    def __init__(self, cache_size: int = 100_000) -> None:
        self._stemmer = snowballstemmer.stemmer("russian")
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def words(self, value: str) -> list[str]:
        return [w.replace("ё", "е") for w in _WORD.findall(value.lower())]

    def stem(self, word: str) -> str:
        # The vocabulary of complaints is small; stemming each word once saves most of the work.
        stem = self._cache.get(word)
        if stem is None:
            stem = self._stemmer.stemWord(word)
            if len(self._cache) < self._cache_size:
                self._cache[word] = stem
        return stem

    def stems(self, value: str) -> list[str]:
        return [self.stem(w) for w in self.words(value)]


def searchable_text(ticket: Ticket) -> str:
    return " ".join(filter(None, [ticket.number, ticket.title, ticket.description, ticket.address]))


async def index_ticket_sqlite(
    session: AsyncSession, stemmer: RussianStemmer, ticket: Ticket, *, replace: bool = True
) -> None:
    """Write (or replace) the ticket's row in the FTS5 table (SQLite only)."""
    body = " ".join(stemmer.stems(searchable_text(ticket)))
    if replace:
        await session.execute(text("DELETE FROM tickets_fts WHERE rowid = :id"), {"id": ticket.id})
    await session.execute(
        text("INSERT INTO tickets_fts(rowid, body) VALUES (:id, :body)"), {"id": ticket.id, "body": body}
    )


def fts5_match_query(stemmer: RussianStemmer, query: str) -> str | None:
    """Every stem must match (AND); each term a quoted prefix so no FTS syntax leaks in."""
    stems = [s for s in stemmer.stems(query) if s]
    if not stems:
        return None
    return " ".join(f'"{s}"*' for s in stems[:12])


def postgres_match(query: str) -> ColumnElement[bool]:
    """Match the stored `search_vector` column (PostgreSQL only; see migration 0005)."""
    return text("tickets.search_vector @@ plainto_tsquery('russian', :fts_query)").bindparams(fts_query=query)
