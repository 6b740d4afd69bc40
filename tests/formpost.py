"""Read a page's form as a browser would and send it back unchanged (test helper, standard library only)."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    """The successful controls of the form with this id (else the first in ``<main>``), as a browser sends them."""

    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.depth = 0  # inside the wanted form
        self.seen = False
        self.in_main = False
        self.action: str | None = None
        self.pairs: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._option: tuple[str | None, bool] | None = None
        self._option_text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "main":
            self.in_main = True
        if tag == "form" and not self.seen and (a.get("id") == self.form_id if self.form_id else self.in_main):
            self.depth, self.seen, self.action = 1, True, a.get("action")
            return
        if not self.depth:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.pairs.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "file", "reset", "image"):
                self.pairs.append((name, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = (a.get("value"), "selected" in a), []

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._textarea is not None:
            self._text.append(data)
        if self._option is not None:
            self._option_text.append(data)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "textarea" and self._textarea is not None:
            # The parser drops one leading newline; a browser sends line breaks as CR LF.
            text = "".join(self._text).replace("\r\n", "\n")
            text = text[1:] if text.startswith("\n") else text
            self.pairs.append((self._textarea, text.replace("\n", "\r\n")))
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value, selected = self._option
            self._options.append((value if value is not None else "".join(self._option_text).strip(), selected))
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, s in self._options if s] or [v for v, _ in self._options[:1]]
            self.pairs.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "form" and self.depth:
            self.depth = 0


def read_form(html: str, form_id: str | None = None) -> tuple[str | None, list[tuple[str, str]]]:
    """(action, [(name, value), …]) of the form, as a browser would submit it without any change."""
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.seen, f"no form {form_id or ''} on the page"
    return reader.action, reader.pairs


def resubmit(client, url: str, form_id: str | None = None):  # type: ignore[no-untyped-def]
    """GET ``url``, then POST its form back unchanged; returns the POST's response."""
    from werkzeug.datastructures import MultiDict

    page = client.get(url)
    assert page.status_code == 200, page.status_code
    action, pairs = read_form(page.get_data(as_text=True), form_id)
    return client.post(action or url, data=MultiDict(pairs))
