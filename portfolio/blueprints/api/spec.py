"""Each route declares its shapes once, with :func:`operation`; the request is read through the same
declaration (:func:`body`, :func:`query`) and the OpenAPI 3.1 document is generated from all of them
by apispec's marshmallow plugin (:func:`build_document`). A route without a declaration makes the
document test fail, so nothing ships undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app, request
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError

from portfolio.blueprints.api import schemas as s

VERSION = "1.1.0"
F = TypeVar("F", bound=Callable[..., Any])

#: Error responses by name: status and description.
ERRORS: dict[str, tuple[str, str]] = {
    "BadRequest": ("400", "Le corps n'est pas un objet JSON."),
    "Forbidden": ("403", "Action refusée à ce rôle (la ressource reste visible)."),
    "NotFound": ("404", "Inexistant, ou hors de portée de l'appelant."),
    "Conflict": ("409", "Preuve déjà soumise (non modifiable), rattachement en double, ou état qui ne permet "
                        "pas l'action (preuve non soumise, déjà évaluée, bloc déjà validé)."),
    "TooLarge": ("413", "Limite dépassée (taille d'un fichier, quota, nombre de fichiers) ; le message dit "
                        "laquelle et de combien."),
    "Invalid": ("422", "Donnée refusée ; `field` nomme le champ."),
}


@dataclass
class Operation:
    operation_id: str
    summary: str
    responses: dict[str, Any]
    body: type[Schema] | None = None
    body_required: bool = True
    form: type[Schema] | None = None   # a multipart/form-data body (documented; read by the view)
    query: type[Schema] | None = None
    errors: tuple[str, ...] = ()
    secured: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class _Declared(Protocol):
    """A view function that :func:`operation` gave its shapes to, as a function attribute."""

    api_operation: Operation


def declared_operation(view: object) -> Operation:
    return cast(_Declared, view).api_operation


def operation(operation_id: str, summary: str, responses: dict[str, Any], **options: Any) -> Callable[[F], F]:
    """Declare a route's shapes. ``responses``: status → a schema class, or ``(schema, description)``,
    or a ready OpenAPI response object (for files, CSV and redirects)."""

    def decorate(view: F) -> F:
        cast(_Declared, view).api_operation = Operation(operation_id, summary, responses, **options)
        return view

    return decorate


class InvalidRequest(Exception):
    """Turned into the API's error body by the blueprint (400 ``bad_request`` or 422 ``invalid``)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _declared() -> Operation:
    return declared_operation(current_app.view_functions[request.endpoint or ""])


def load(schema_class: type[Schema], data: Any, *, only: tuple[str, ...] | None = None) -> dict:
    schema = schema_class(only=only) if only else schema_class()
    try:
        return schema.load(data)
    except ValidationError as exc:
        name, message = s.first_error(schema, exc)
        raise InvalidRequest(422, "invalid", message, name) from None


def body(*, optional: bool = False) -> dict:
    """The request's JSON object, read through the route's declared body schema."""
    schema_class = _declared().body
    assert schema_class is not None, "the route declares no body"
    if optional and not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidRequest(400, "bad_request", _("Le corps de la requête doit être un objet JSON."))
    return load(schema_class, data)


def query() -> dict:
    """The query string, read through the route's declared query schema."""
    schema_class = _declared().query
    assert schema_class is not None, "the route declares no query"
    args = request.args
    return load(schema_class, {k: args.get(k) for k in schema_class().load_fields if k in args})


# --- the document -----------------------------------------------------------------------------------------

def _response(spec: APISpec, status: str, value: Any) -> dict:
    if isinstance(value, dict):
        return value
    schema, description = value if isinstance(value, tuple) else (value, "Réponse.")
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _parameters(rule_text: str, op: Operation, descriptions: dict[str, str]) -> list[dict]:
    found = []
    for converter, name in re.findall(r"<(?:([^:<>]+):)?([^<>]+)>", rule_text):
        schema = {"type": "integer"} if converter == "int" else {"type": "string"}
        item = {"name": name, "in": "path", "required": True, "schema": schema}
        if name in descriptions:
            item["description"] = descriptions[name]
        found.append(item)
    if op.query is not None:
        found.append({"in": "query", "schema": op.query})
    return found


PATH_DESCRIPTIONS = {"code": "Code de compétence (`RNCP28754BC01-C01`) ou de bloc (`RNCP28754BC01`), selon la route."}


def build_document(server_url: str = "/api/v1") -> dict:
    """The whole OpenAPI 3.1 document, from the routes of the ``api`` blueprint and their declarations."""
    spec = APISpec(
        title="Portfolio API", version=VERSION, openapi_version="3.1.0", plugins=[MarshmallowPlugin()],
        info={"description": (
            "API JSON du portfolio de compétences. Authentification : un jeton d'accès personnel (`pft_...`), "
            "créé dans les paramètres du compte, envoyé en `Authorization: Bearer <jeton>`. Les erreurs sont "
            "`{\"error\": {\"code\", \"message\", \"field\"?}}` ; ce que l'appelant·e ne peut pas voir répond 404.")},
        servers=[{"url": server_url}], security=[{"bearerAuth": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "description": "Jeton d'accès personnel `pft_...`."})
    spec.components.schema("Error", schema=s.ErrorSchema)
    for extra in s.EXTRA_COMPONENTS:
        spec.components.schema(extra.__name__.removesuffix("Schema"), schema=extra)
    spec.components.response("Unauthorized", {
        "description": "Jeton absent, invalide ou révoqué, ou compte désactivé.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer realm=...`"}},
        "content": {"application/json": {"schema": "Error"}}})
    for name, (_status, description) in ERRORS.items():
        spec.components.response(name, {"description": description,
                                        "content": {"application/json": {"schema": "Error"}}})
    paths: dict[str, dict[str, dict]] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        op = declared_operation(current_app.view_functions[rule.endpoint])
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            item: dict[str, Any] = {
                "operationId": op.operation_id, "summary": op.summary,
                "responses": {status: _response(spec, status, value) for status, value in op.responses.items()},
            }
            parameters = _parameters(rule.rule, op, PATH_DESCRIPTIONS)
            if parameters:
                item["parameters"] = parameters
            content: dict[str, Any] = {}
            if op.form is not None:
                content["multipart/form-data"] = {"schema": op.form,
                                                  "encoding": {"file": {"contentType": "application/octet-stream"}}}
            if op.body is not None:
                content["application/json"] = {"schema": op.body}
            if content:
                item["requestBody"] = {"required": op.body_required, "content": content}
            if op.secured:
                item["responses"]["401"] = "Unauthorized"
            else:
                item["security"] = []
            for name in op.errors:
                item["responses"][ERRORS[name][0]] = name
            item.update(op.extra)
            paths.setdefault(path, {})[method.lower()] = item
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
