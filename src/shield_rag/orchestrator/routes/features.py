"""Feature flags: ``GET /features`` (scope read) lists them as every service applies them;
``PUT``/``DELETE /admin/features/{name}`` (scope admin) turn one on or off, or back to the
inventory's default, for every service within ``features.refresh_seconds``; ``GET
/admin/feature-history`` shows who changed what. See :mod:`shield_rag.features`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.features import FeatureChange, FeatureHistory, FeatureList, FeatureState
from shield_rag.orchestrator.auth import Caller, current_caller, requires
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    REDIS_ERRORS,
    ROUTE_ERRORS,
    ServicesDep,
    client_router,
)
from shield_rag.settings.features import FEATURE_NAMES, check_feature_name

router = client_router("features")
FeatureName = Annotated[
    str, Path(description="One of: " + ", ".join(FEATURE_NAMES), examples=["crawling"])
]
ADMIN_ERRORS = error_responses(*ROUTE_ERRORS, *REDIS_ERRORS, 404)


def _name(name: str) -> str:
    try:
        return check_feature_name(name)
    except ValueError as exc:
        raise ApiError(ErrorCode.NOT_FOUND, str(exc)) from None


def _who(caller: Caller) -> str:
    return f"{caller.name} (via {caller.via})" if caller.via else caller.name


@router.get(
    "/features",
    response_model=FeatureList,
    summary="The feature flags in force",
    responses=error_responses(*ROUTE_ERRORS),
)
async def list_features(services: ServicesDep) -> FeatureList:
    return FeatureList(features=list(services.features.snapshot().values()))


@router.put(
    "/admin/features/{name}",
    response_model=FeatureState,
    summary="Turn a feature on or off",
    responses={**ADMIN_ERRORS, **error_responses(*BODY_ERRORS)},
)
@requires("admin")
async def set_feature(
    name: FeatureName, body: FeatureChange, request: Request, services: ServicesDep
) -> FeatureState:
    who = _who(current_caller(request))
    return await services.features.set(_name(name), body.enabled, who)


@router.delete(
    "/admin/features/{name}",
    response_model=FeatureState,
    summary="Return a feature to the inventory's default",
    responses=ADMIN_ERRORS,
)
@requires("admin")
async def reset_feature(name: FeatureName, request: Request, services: ServicesDep) -> FeatureState:
    return await services.features.reset(_name(name), _who(current_caller(request)))


@router.get(
    "/admin/feature-history",
    response_model=FeatureHistory,
    summary="Who changed which feature, newest first",
    responses=error_responses(*ROUTE_ERRORS, *REDIS_ERRORS),
)
@requires("admin")
async def feature_history(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most changes to list")] = 100,
) -> FeatureHistory:
    return FeatureHistory(changes=await services.features.history(limit))
