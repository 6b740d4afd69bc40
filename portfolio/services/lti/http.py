"""Outgoing HTTP to platforms (JWKS, registration, tokens, AGS, NRPS): short timeouts, JSON only."""

from __future__ import annotations

import json as jsonlib
from typing import Any

import requests
from flask import current_app

USER_AGENT = "portfolio-lti/1.0"


class PlatformHttpError(RuntimeError):
    """A platform endpoint could not be reached or answered an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _timeout() -> float:
    return float(current_app.config.get("LTI_HTTP_TIMEOUT", 10))


def request_json(method: str, url: str, *, headers: dict[str, str] | None = None, json: Any = None,
                 data: dict | None = None, accept: str = "application/json",
                 content_type: str | None = None) -> tuple[Any, requests.structures.CaseInsensitiveDict]:
    """Send one request; return the decoded JSON body (None when empty) and the response headers."""
    sent = {"Accept": accept, "User-Agent": USER_AGENT, **(headers or {})}
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent["Content-Type"] = content_type or "application/json"
    try:
        response = requests.request(method, url, headers=sent, data=body if body is not None else data,
                                    timeout=_timeout(), allow_redirects=False)
    except requests.RequestException as exc:
        raise PlatformHttpError(f"{method} {url}: {exc.__class__.__name__}") from exc
    if response.status_code >= 400:
        raise PlatformHttpError(f"{method} {url}: HTTP {response.status_code} {response.text[:200]}",
                                response.status_code)
    if not response.content:
        return None, response.headers
    try:
        return response.json(), response.headers
    except ValueError as exc:
        raise PlatformHttpError(f"{method} {url}: the answer is not JSON") from exc


def get_json(url: str, **kwargs: Any) -> Any:
    return request_json("GET", url, **kwargs)[0]
