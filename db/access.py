"""API tokens and frozen datasets (mixed into :class:`db.catalog.Catalog`).

Tokens are 256-bit random secrets; only their sha256 is stored. A fast hash is the right one
here (unlike passwords, the secret has full entropy, so there is nothing to brute-force), and
it lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row

from db.records import DatasetInfo, NotFound, TakeFilter, TokenInfo
from db.schema import ApiToken, Dataset, Role, Take, utcnow
from db.unit import UnitOfWork

TOKEN_PREFIX = "jxd_"
#: ``last_used_at`` is refreshed at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.role, row.created_at, row.last_used_at, row.revoked_at)


def dataset_info(row: Row[Any]) -> DatasetInfo:
    return DatasetInfo(
        id=row.id,
        name=row.name,
        filter=TakeFilter.from_json(row.query),
        splits=dict(row.splits["fractions"]),
        seed=row.splits["seed"],
        created_by=row.created_by,
        created_at=row.created_at,
    )


class Access(UnitOfWork):
    # -- tokens -------------------------------------------------------------------------
    def create_token(self, name: str, role: Role) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as connection:
            row = connection.execute(
                insert(ApiToken)
                .values(
                    name=name, token_hash=hash_token(secret), role=Role(role), created_at=utcnow()
                )
                .returning(*ApiToken.__table__.c)
            ).one()
        return _token_info(row), secret

    def authenticate(self, secret: str, *, now: datetime | None = None) -> TokenInfo | None:
        """The live token with this secret, or None (unknown or revoked)."""
        now = now or utcnow()
        with self._read() as connection:
            row = connection.execute(
                select(ApiToken).where(
                    ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            with self._write() as connection:
                connection.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
        return _token_info(row)

    def list_tokens(self) -> list[TokenInfo]:
        with self._read() as connection:
            return [
                _token_info(r) for r in connection.execute(select(ApiToken).order_by(ApiToken.id))
            ]

    def revoke_token(self, token_id: int) -> TokenInfo:
        with self._write() as connection:
            row = connection.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id)
                .values(revoked_at=func.coalesce(ApiToken.revoked_at, utcnow()))
                .returning(*ApiToken.__table__.c)
            ).first()
        if row is None:
            raise NotFound(f"token {token_id} does not exist")
        return _token_info(row)

    # -- datasets -----------------------------------------------------------------------
    def freeze_dataset(
        self,
        name: str,
        filters: TakeFilter,
        splits: dict[str, float],
        *,
        seed: int = 0,
        created_by: str | None = None,
    ) -> DatasetInfo:
        """Freeze a selection: the query plus the highest take id now, and the split spec.

        Takes recorded later never join it; each take's split is ``DatasetInfo.split_of``.
        """
        if (
            not splits
            or any(f < 0 for f in splits.values())
            or abs(sum(splits.values()) - 1) > 1e-9
        ):
            raise ValueError(
                f"dataset {name!r}: split fractions must be >= 0 and sum to 1, got {splits}"
            )
        if self.list_datasets_named(name):
            raise ValueError(
                f"dataset {name!r} already exists; datasets are frozen, pick a new name"
            )
        with self._write() as connection:
            max_take_id = connection.execute(select(func.max(Take.id))).scalar() or 0
            if filters.max_take_id is not None:
                max_take_id = min(max_take_id, filters.max_take_id)
            frozen = dataclasses.replace(filters, max_take_id=max_take_id)
            row = connection.execute(
                insert(Dataset)
                .values(
                    name=name,
                    query=frozen.to_json(),
                    max_take_id=max_take_id,
                    # Pairs, not an object: PostgreSQL's JSONB reorders object keys, and the
                    # order of the splits decides which split a take falls in.
                    splits={"fractions": [[n, f] for n, f in splits.items()], "seed": seed},
                    created_by=created_by,
                    created_at=utcnow(),
                )
                .returning(*Dataset.__table__.c)
            ).one()
        return dataset_info(row)

    def get_dataset(self, name: str) -> DatasetInfo:
        with self._read() as connection:
            row = connection.execute(select(Dataset).where(Dataset.name == name)).first()
        if row is None:
            raise NotFound(f"dataset {name!r} does not exist")
        return dataset_info(row)

    def list_datasets_named(self, name: str) -> list[DatasetInfo]:
        with self._read() as connection:
            rows = connection.execute(select(Dataset).where(Dataset.name == name)).all()
        return [dataset_info(r) for r in rows]

    def list_datasets(self) -> list[DatasetInfo]:
        with self._read() as connection:
            return [
                dataset_info(r) for r in connection.execute(select(Dataset).order_by(Dataset.id))
            ]
