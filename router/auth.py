"""Who is calling the edge (API key or JWT) and whether they may do this (IAM policies)."""

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml
from aiohttp import web
from pydantic import Field, SecretStr

from common.errors import Forbidden, Unauthorized
from common.secrets import read_secret
from common.settings_base import StrictModel
from router.access import AccessEvaluator, AccessRequest
from router.access_policy import parse_policies
from router.api_keys import ApiKeyStore

log = logging.getLogger(__name__)

PRINCIPAL = web.RequestKey("principal", str)
ANONYMOUS = "anonymous"
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/status.json", "/favicon.ico"}
)
PUBLIC_PREFIXES = ("/static/",)  # the status page's own files
TASK_ACTIONS = {
    "generate": "multimodal:Generate",
    "embed": "multimodal:Embed",
    "classify": "multimodal:Classify",
    "classify_image": "multimodal:ClassifyImage",
    "detect_speech": "multimodal:DetectSpeech",
    "transcribe": "multimodal:Transcribe",
}


class JwtSettings(StrictModel):
    """HS256 JWTs that local apps present; `sub` names the caller."""

    secret: SecretStr | None = None
    secret_file: Path | None = None
    audience: str = "hybrid-router-edge"
    leeway_s: float = Field(5.0, ge=0, le=60)


class AccessSettings(StrictModel):
    """Credentials of local apps and the access policies that apply to them."""

    api_keys: dict[str, SecretStr] = Field(default_factory=dict)  # principal → key or sha256:hex
    api_keys_file: Path | None = None  # YAML/JSON mapping of the same shape
    jwt: JwtSettings = JwtSettings()
    policies: list[dict[str, Any]] = Field(default_factory=list)
    policies_file: Path | None = None  # YAML/JSON list of policy documents

    def key_entries(self) -> dict[str, str]:
        """principal → key (or `sha256:<hex>`), from env/config and the keys file."""
        entries = {p: k.get_secret_value() for p, k in self.api_keys.items()}
        if self.api_keys_file is not None:
            entries.update(
                {str(p): str(k) for p, k in yaml.safe_load(self.api_keys_file.read_text()).items()}
            )
        return entries

    def policy_documents(self) -> list[dict[str, Any]]:
        """Inline policies plus those in the policies file."""
        documents = list(self.policies)
        if self.policies_file is not None:
            documents.extend(yaml.safe_load(self.policies_file.read_text()) or [])
        return documents


@dataclass(frozen=True)
class AccessControl:
    """Authenticates callers and evaluates policies; open (anonymous) when nothing is set."""

    keys: ApiKeyStore | None
    jwt_secret: str | None
    jwt_audience: str
    jwt_leeway_s: float
    evaluator: AccessEvaluator | None

    @classmethod
    def from_settings(cls, settings: AccessSettings) -> "AccessControl":
        """Parse keys and policies; bad policies fail startup with every problem listed."""
        entries = settings.key_entries()
        documents = settings.policy_documents()
        return cls(
            keys=ApiKeyStore.from_config(entries) if entries else None,
            jwt_secret=read_secret(settings.jwt.secret, settings.jwt.secret_file),
            jwt_audience=settings.jwt.audience,
            jwt_leeway_s=settings.jwt.leeway_s,
            evaluator=AccessEvaluator(parse_policies(documents)) if documents else None,
        )

    @property
    def open(self) -> bool:
        """True when no credentials are configured: anyone who can connect is served."""
        return self.keys is None and self.jwt_secret is None

    def authenticate(self, request: web.Request) -> str:
        """The caller's principal from `Authorization: Bearer` or `X-API-Key`, else 401."""
        return self.principal_of(request.headers)

    def principal_of(self, headers: Mapping[str, str]) -> str:
        """The principal from headers (or gRPC metadata) holding a key or token, else 401."""
        if self.open:
            return ANONYMOUS
        scheme, _, credential = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            credential = headers.get("X-API-Key", "")
        credential = credential.strip()
        if not credential:
            raise Unauthorized("an API key or token is required", "missing_credentials")
        if self.keys is not None and (principal := self.keys.authenticate(credential)):
            return principal
        if self.jwt_secret is not None and credential.count(".") == 2:
            return self._verify_jwt(credential)
        raise Unauthorized("invalid API key or token", "invalid_credentials")

    def _verify_jwt(self, token: str) -> str:
        try:
            claims = jwt.decode(
                token,
                self.jwt_secret,
                algorithms=["HS256"],
                audience=self.jwt_audience,
                leeway=self.jwt_leeway_s,
                options={"require": ["exp", "iat", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}", "invalid_token") from None
        return str(claims["sub"])

    def authorize(self, request: web.Request, action: str, resource: str) -> None:
        """403 unless the policies allow `action` on `resource` for this caller and address."""
        self.check(request.get(PRINCIPAL, ANONYMOUS), request.remote or "", action, resource)

    def check(self, principal: str, source_ip: str, action: str, resource: str) -> None:
        """403 unless the policies allow `action` on `resource` for `principal` at `source_ip`."""
        if self.evaluator is None:
            return
        decision = self.evaluator.evaluate(
            AccessRequest(
                principal=principal, action=action, resource=resource, source_ip=source_ip
            )
        )
        if not decision.allowed:
            raise Forbidden(f"{action} on {resource} denied: {decision.reason}", "access_denied")


def make_auth_middleware(
    access: AccessControl,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Authenticate every request except the ops endpoints; the principal goes on the request."""

    @web.middleware
    async def auth_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in PUBLIC_PATHS and not request.path.startswith(PUBLIC_PREFIXES):
            request[PRINCIPAL] = access.authenticate(request)
        return await handler(request)

    return auth_middleware


def is_loopback(host: str) -> bool:
    """True for loopback addresses and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(access: AccessControl, host: str) -> None:
    """Without credentials the edge listens on loopback only; say so, or refuse."""
    if not access.open:
        return
    if not is_loopback(host):
        raise SystemExit(
            f"refusing to listen on {host}: no API keys or JWT secret are configured "
            "(set access.api_keys or access.jwt.secret), so the edge serves loopback only"
        )
    log.warning("no access credentials configured: serving anonymous callers on %s only", host)
