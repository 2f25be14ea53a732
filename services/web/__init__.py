"""The web pages on the public entry: residents, staff and the public dashboard.

Pages are HTML templates filled from translation catalogues on the server
(`pages.py`); their live parts are small ES modules in `static/` that talk to
the services' JSON APIs from the browser. No build step, no CDN: everything a
page needs is served from this package (`routes.py`).
"""

from services.web.routes import web_routes

__all__ = ["web_routes"]
