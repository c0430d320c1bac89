"""API tokens: create (the secret is shown once), list, revoke. Admin only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from daq.api.deps import CatalogDep, require
from daq.api.errors import documented
from daq.api.schemas import TokenCreatedOut, TokenIn, TokenOut
from db.schema import Role

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[Depends(require(Role.ADMIN))])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreatedOut,
    responses=documented(),
    summary="Create a token",
)
def create_token(body: TokenIn, catalog: CatalogDep) -> TokenCreatedOut:
    """A new bearer token for a person, a script or a rig worker (name a rig token after
    its rig). The secret is in this answer only: the catalog keeps its hash."""
    token, secret = catalog.create_token(body.name, body.role)
    return TokenCreatedOut(**TokenOut.from_info(token).model_dump(), secret=secret)


@router.get("", response_model=list[TokenOut], responses=documented(), summary="List tokens")
def list_tokens(catalog: CatalogDep) -> list[TokenOut]:
    """Every token, revoked ones included (with when they were revoked)."""
    return [TokenOut.from_info(token) for token in catalog.list_tokens()]


@router.delete(
    "/{token_id}", response_model=TokenOut, responses=documented(404), summary="Revoke a token"
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], catalog: CatalogDep, request: Request
) -> TokenOut:
    """Revoke a token at once (on this server; other server processes stop accepting it
    within seconds); revoking it again keeps the first revocation time."""
    revoked = catalog.revoke_token(token_id)
    request.app.state.tokens.forget()
    return TokenOut.from_info(revoked)
