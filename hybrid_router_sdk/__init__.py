"""Python SDK for the hybrid-router edge node: `MultimodalClient` (async) and a sync twin."""

from hybrid_router_sdk.client import MultimodalClient
from hybrid_router_sdk.errors import (
    ERRORS_BY_STATUS,
    AuthenticationError,
    BadRequestError,
    BadUpstreamError,
    ConnectionFailed,
    DeadlineExceededError,
    HybridRouterError,
    InternalServerError,
    NotFoundError,
    NotSupportedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
)
from hybrid_router_sdk.retry import RetryPolicy
from hybrid_router_sdk.sync import SyncMultimodalClient
from hybrid_router_sdk.types import GenerateResponse, Label, Segment

__all__ = [
    "ERRORS_BY_STATUS",
    "AuthenticationError",
    "BadRequestError",
    "BadUpstreamError",
    "ConnectionFailed",
    "DeadlineExceededError",
    "GenerateResponse",
    "HybridRouterError",
    "InternalServerError",
    "Label",
    "MultimodalClient",
    "NotFoundError",
    "NotSupportedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "Segment",
    "ServiceUnavailableError",
    "SyncMultimodalClient",
    "UnsupportedMediaTypeError",
]
