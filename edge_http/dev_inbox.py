"""The dev inbox: the mail `identity dev`'s local catcher received, as one HTML page.

Only `identity dev` hands `create_app` an inbox; `edge-http serve` has no way to (no setting, no
variable), so a deployment never serves this page. The page is rendered on the server with
Jinja2's autoescape and no script, under the demo page's strict CSP; only links of the shape
identity mails (`find_links`: http(s) to a page route) become anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from edge_http.middleware import HTML_HEADERS
from edge_http.wire import NO_STORE_HEADERS
from identity.domain.links import find_links
from identity.mail_catcher import MailCatcher

DEV_INBOX_PATH = "/dev/inbox"

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("edge_http", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Part:
    """A piece of a mail's text: plain, or a link (`href`) to show as an anchor."""

    text: str
    href: str | None = None


def parts(text: str) -> list[Part]:
    pieces: list[Part] = []
    rest = text
    for link in find_links(text):
        before, _, rest = rest.partition(link.url)
        pieces += [Part(before), Part(link.url, link.url)]
    return [*pieces, Part(rest)]


class DevInboxRoutes:
    def __init__(self, inbox: MailCatcher) -> None:
        self._inbox = inbox
        self._page = _TEMPLATES.get_template("dev_inbox.html")

    def routes(self) -> list[BaseRoute]:
        return [Route(DEV_INBOX_PATH, self.page, methods=["GET"])]

    async def page(self, request: Request) -> Response:
        mails = [(mail, parts(mail.text)) for mail in self._inbox.mails()]
        body = self._page.render(mails=mails, smtp=str(self._inbox.url), keep=self._inbox.keep)
        # no-store: the page holds live link tokens.
        return HTMLResponse(body, headers={**HTML_HEADERS, **NO_STORE_HEADERS})
