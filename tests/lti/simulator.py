"""A small LTI 1.3 Advantage platform for the tests, served over HTTP on loopback from a thread.

It has its own RSA keys (and can rotate them), serves its JWKS, an OpenID configuration, a dynamic
registration endpoint, an OIDC authorization endpoint that signs launches and deep-linking requests,
an OAuth2 token endpoint (client credentials with a signed JWT assertion, checked against the tool's
JWKS), AGS line items and scores, NRPS memberships (paged), a deep-linking return endpoint, and a
course page that embeds the tool in an iframe and answers the LTI postMessage storage messages.
Every request it receives is recorded in ``calls``.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
LEARNER = MEMBERSHIP + "Learner"
INSTRUCTOR = MEMBERSHIP + "Instructor"
ADMINISTRATOR = MEMBERSHIP + "Administrator"
SYSTEM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
INSTITUTION_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(6), "use": "sig", "alg": "RS256"})


@dataclass
class Person:
    sub: str
    name: str
    email: str | None
    roles: list[str]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Platform:
    """The simulator. ``host`` is ``localhost`` so that a tool on 127.0.0.1 is another site (an iframe
    there is third-party, as Moodle's is)."""

    host: str = "localhost"
    client_id: str = "tool-client-1"
    deployment_id: str = "deployment-1"
    context_id: str = "course-101"
    context_title: str = "Développement web 2026"
    tool_url: str = ""                        # the tool's base URL (live server, or the test client's)
    tool_jwks: Any = None                     # callable returning the tool's JWKS (test client), else fetched
    keys: list[RSAKey] = field(default_factory=lambda: [new_key("platform-key-1")])
    people: dict[str, Person] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    line_items: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)
    deep_link_returns: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    page_size: int = 2
    fail_scores: int = 0                      # answer 500 to this many score posts
    score_gate: threading.Event | None = None  # when set, score posts wait for it
    score_hold: threading.Event | None = None  # when set, the next score post (only that one) waits for it
    score_held: threading.Event = field(default_factory=threading.Event)  # set while that post waits
    _hold_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    tokens_issued: int = 0
    registration_token: str = "reg-token-123"
    storage: dict[str, str] = field(default_factory=dict)
    launch_overrides: dict[str, Any] = field(default_factory=dict)
    message_type: str = "LtiResourceLinkRequest"
    custom: dict[str, Any] = field(default_factory=dict)
    resource_link_id: str = "link-1"
    document_target: str = "iframe"
    port: int = 0

    # --- server -------------------------------------------------------------------------------------------

    def start(self) -> Platform:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="lti-platform", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.score_gate is not None:
            self.score_gate.set()
        if self.score_hold is not None:
            self.score_hold.set()
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.issuer + path

    def registration(self) -> dict[str, Any]:
        """What a manual registration of this platform needs."""
        return {"name": "Simulated Moodle", "issuer": self.issuer, "client_id": self.client_id,
                "auth_login_url": self.url("/auth"), "auth_token_url": self.url("/token"),
                "jwks_url": self.url("/jwks"), "deployment_ids": [self.deployment_id]}

    def add_person(self, sub: str, name: str, roles: list[str], email: str | None = None) -> Person:
        person = Person(sub, name, email, roles)
        self.people[sub] = person
        return person

    def member_entry(self, person: Person, status: str = "Active") -> dict:
        entry = {"user_id": person.sub, "name": person.name, "roles": person.roles, "status": status}
        if person.email:
            entry["email"] = person.email
        return entry

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path or c.path.startswith(path + "/")]

    # --- signing ---------------------------------------------------------------------------------------

    def rotate(self) -> RSAKey:
        key = new_key()
        self.keys.insert(0, key)
        return key

    def sign(self, claims: dict, key: RSAKey | None = None, kid: str | None = None) -> str:
        key = key or self.keys[0]
        header = {"alg": "RS256", "kid": kid or key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key)

    def id_token_claims(self, *, nonce: str, sub: str, **overrides: Any) -> dict:
        person = self.people[sub]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.client_id, "azp": self.client_id, "sub": sub,
            "iat": now, "exp": now + 300, "nonce": nonce, "name": person.name,
            CLAIM + "message_type": self.message_type, CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": self.deployment_id,
            CLAIM + "target_link_uri": self.tool_url + "/lti/launch",
            CLAIM + "roles": person.roles,
            CLAIM + "context": {"id": self.context_id, "title": self.context_title, "label": "DW26"},
            CLAIM + "launch_presentation": {"document_target": self.document_target,
                                            "return_url": self.url("/course")},
            CLAIM + "custom": dict(self.custom),
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                          "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                "lineitems": self.url(f"/ags/{self.context_id}/lineitems")},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.url(f"/nrps/{self.context_id}/memberships"),
                "service_versions": ["2.0"]},
        }
        if person.email:
            claims["email"] = person.email
        if self.message_type == "LtiResourceLinkRequest":
            claims[CLAIM + "resource_link"] = {"id": self.resource_link_id, "title": "Portfolio"}
        else:
            claims[DL + "deep_linking_settings"] = {
                "deep_link_return_url": self.url("/deep_link_return"), "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"], "data": "opaque-123"}
        claims.update(self.launch_overrides)
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def id_token(self, *, nonce: str, sub: str, key: RSAKey | None = None, kid: str | None = None,
                 **overrides: Any) -> str:
        return self.sign(self.id_token_claims(nonce=nonce, sub=sub, **overrides), key=key, kid=kid)

    def login_params(self, sub: str, **extra: str) -> dict[str, str]:
        params = {"iss": self.issuer, "login_hint": sub, "target_link_uri": self.tool_url + "/lti/launch",
                  "client_id": self.client_id, "lti_deployment_id": self.deployment_id,
                  "lti_message_hint": "hint-" + sub}
        params.update(extra)
        return params

    def _tool_keyset(self) -> KeySet:
        data = self.tool_jwks() if self.tool_jwks else json.loads(_get(self.tool_url + "/lti/jwks"))
        return KeySet.import_key_set(data)

    def verify_tool_jwt(self, token: str) -> dict:
        return dict(jwt.decode(token, self._tool_keyset(), algorithms=["RS256"]).claims)

    # --- the WSGI application ------------------------------------------------------------------------------

    def wsgi(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        body = request.get_data()
        self.calls.append(Call(request.method, request.path, parse_qs(request.query_string.decode()),
                               {k: v for k, v in request.headers.items()}, body))
        try:
            response = self.route(request, body)
        except Exception as exc:  # a broken simulator should be visible in the test, not hang it
            response = Response(f"simulator error: {exc!r}", status=500)
        return response(environ, start_response)

    def route(self, request: Request, body: bytes) -> Response:
        path = request.path
        if path == "/jwks":
            return _json({"keys": [dict(k.as_dict(private=False)) for k in self.keys]})
        if path == "/.well-known/openid-configuration":
            return _json({
                "issuer": self.issuer, "authorization_endpoint": self.url("/auth"),
                "token_endpoint": self.url("/token"), "jwks_uri": self.url("/jwks"),
                "registration_endpoint": self.url("/register"),
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "scopes_supported": ["openid"], "response_types_supported": ["id_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "name", "email"],
                "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                    "product_family_code": "moodle", "version": "4.4",
                    "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}]},
            })
        if path == "/register" and request.method == "POST":
            if request.headers.get("Authorization") != f"Bearer {self.registration_token}":
                return _json({"error": "invalid_token"}, 401)
            sent = json.loads(body)
            conf = "https://purl.imsglobal.org/spec/lti-tool-configuration"
            return _json({**sent, "client_id": self.client_id,
                          conf: {**sent[conf], "deployment_id": self.deployment_id}})
        if path == "/auth":
            return self.authorize(request)
        if path == "/token" and request.method == "POST":
            return self.token(request, body)
        if path.startswith("/ags/"):
            return self.ags(request, body)
        if path.startswith("/nrps/"):
            return self.nrps(request)
        if path == "/deep_link_return" and request.method == "POST":
            token = parse_qs(body.decode()).get("JWT", [""])[0]
            claims = self.verify_tool_jwt(token)
            self.deep_link_returns.append(claims)
            return Response("<!doctype html><html lang='fr'><head><title>Moodle</title></head><body><main>"
                            "<h1 id='dl-done'>Lien ajouté</h1></main></body></html>", mimetype="text/html")
        if path == "/course":
            return self.course_page(request)
        if path == "/start":
            return self.start_page(request)
        if path == "/tool_registration":
            return self.registration_page(request)
        return Response("not found", status=404)

    def authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_mode") != "form_post" \
                or args.get("scope") != "openid" or args.get("response_type") != "id_token":
            return Response("bad authorization request", status=400)
        token = self.id_token(nonce=args["nonce"], sub=args["login_hint"])
        redirect_uri = html.escape(args["redirect_uri"])
        return Response(
            "<!doctype html><html lang='fr'><head><title>Moodle</title></head><body><main>"
            f"<form id='f' method='post' action='{redirect_uri}'>"
            f"<input type='hidden' name='id_token' value='{html.escape(token)}'>"
            f"<input type='hidden' name='state' value='{html.escape(args['state'])}'>"
            "<button type='submit'>Continuer</button></form>"
            "<script>document.getElementById('f').submit()</script></main></body></html>",
            mimetype="text/html")

    def token(self, request: Request, body: bytes) -> Response:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return _json({"error": "unsupported_grant_type"}, 400)
        try:
            claims = self.verify_tool_jwt(form.get("client_assertion", ""))
        except Exception:
            return _json({"error": "invalid_client"}, 401)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id \
                or self.url("/token") not in audiences or claims.get("exp", 0) < time.time():
            return _json({"error": "invalid_client"}, 401)
        self.tokens_issued += 1
        return _json({"access_token": f"token-{self.tokens_issued}", "token_type": "Bearer", "expires_in": 3600,
                      "scope": form.get("scope", "")})

    def _authorized(self, request: Request) -> bool:
        return (request.headers.get("Authorization") or "").startswith("Bearer token-")

    def ags(self, request: Request, body: bytes) -> Response:
        if not self._authorized(request):
            return _json({"error": "unauthorized"}, 401)
        parts = request.path.strip("/").split("/")  # ags/<context>/lineitems[/<id>[/scores]]
        base = self.url(f"/ags/{parts[1]}/lineitems")
        if len(parts) == 3 and request.method == "GET":
            items = [i for i in self.line_items
                     if all(i.get(k) == request.args[q] for q, k in (("tag", "tag"), ("resource_id", "resourceId"))
                            if q in request.args)]
            return _json(items, content_type="application/vnd.ims.lis.v2.lineitemcontainer+json")
        if len(parts) == 3 and request.method == "POST":
            item = json.loads(body)
            item["id"] = f"{base}/{len(self.line_items) + 1}"
            self.line_items.append(item)
            return _json(item, 201, content_type="application/vnd.ims.lis.v2.lineitem+json")
        if len(parts) == 5 and parts[4] == "scores" and request.method == "POST":
            if self.score_gate is not None:
                self.score_gate.wait(timeout=30)
            with self._hold_lock:
                hold, self.score_hold = self.score_hold, None
            if hold is not None:
                self.score_held.set()
                hold.wait(timeout=30)
            if self.fail_scores > 0:
                self.fail_scores -= 1
                return _json({"error": "unavailable"}, 503)
            score = json.loads(body)
            score["lineitem"] = f"{base}/{parts[3]}"
            self.scores.append(score)
            return Response(status=204)
        return _json({"error": "not found"}, 404)

    def nrps(self, request: Request) -> Response:
        if not self._authorized(request):
            return _json({"error": "unauthorized"}, 401)
        start = int(request.args.get("page", 0))
        chunk = self.members[start:start + self.page_size]
        response = _json({"id": request.url, "context": {"id": self.context_id, "title": self.context_title},
                          "members": chunk}, content_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
        if start + self.page_size < len(self.members):
            response.headers["Link"] = f'<{self.url(request.path)}?page={start + self.page_size}>; rel="next"'
        return response

    def start_page(self, request: Request) -> Response:
        """The document inside the course page's iframe: posts the login initiation to the tool."""
        params = self.login_params(request.args["sub"])
        if request.args.get("storage"):
            params["lti_storage_target"] = "_parent"
        inputs = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                         for k, v in params.items())
        return Response(
            "<!doctype html><html lang='fr'><head><title>Moodle</title></head><body><main>"
            f"<form id='f' method='post' action='{html.escape(self.tool_url)}/lti/login'>{inputs}"
            "<button type='submit'>Lancer</button></form>"
            "<script>document.getElementById('f').submit()</script></main></body></html>",
            mimetype="text/html")

    def registration_page(self, request: Request) -> Response:
        """Moodle's "Add LTI Advantage": the tool's registration URL in an iframe, closed by its message."""
        target = request.args["url"] + "&" + urlencode({
            "openid_configuration": self.url("/.well-known/openid-configuration"),
            "registration_token": self.registration_token})
        return Response(
            "<!doctype html><html lang='fr'><head><title>Outils</title></head><body><main><h1>Outils</h1>"
            f"<iframe id='tool' title='Inscription' width='1000' height='700' src='{html.escape(target)}'></iframe>"
            "<script>window.addEventListener('message', function (e) {"
            "  if (e.data && e.data.subject === 'org.imsglobal.lti.close') { document.title = 'closed'; }"
            "});</script></main></body></html>", mimetype="text/html")

    def course_page(self, request: Request) -> Response:
        """A course page with the tool in an iframe; it answers lti.put_data / lti.get_data for the frame."""
        sub = request.args.get("sub", "")
        storage = "1" if request.args.get("storage") else ""
        query = urlencode({"sub": sub, "storage": storage})
        tool_origin = self.tool_url
        return Response(
            "<!doctype html><html lang='fr'><head><title>Cours</title></head><body><main><h1>Cours</h1>"
            f"<iframe id='tool' name='tool' title='Portfolio' width='1000' height='700' src='/start?{query}'></iframe>"
            "<script>var store = {};"
            "window.addEventListener('message', function (e) {"
            f"  if (e.origin !== '{tool_origin}' || !e.data) return;"
            "  var d = e.data;"
            "  if (d.subject === 'lti.put_data') { store[d.key] = d.value;"
            "    e.source.postMessage({subject: 'lti.put_data.response', message_id: d.message_id, key: d.key,"
            "      value: d.value}, e.origin); }"
            "  if (d.subject === 'lti.get_data') {"
            "    e.source.postMessage({subject: 'lti.get_data.response', message_id: d.message_id, key: d.key,"
            "      value: store[d.key]}, e.origin); }"
            "  if (d.subject === 'org.imsglobal.lti.close') { document.title = 'closed'; }"
            "});</script></main></body></html>",
            mimetype="text/html")


def _json(data: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(json.dumps(data), status=status, mimetype=content_type)


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback only)
        return response.read().decode()


def login_redirect(location: str) -> dict[str, str]:
    """The query of the tool's redirect to our /auth."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
