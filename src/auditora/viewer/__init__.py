"""The local web viewer and the static HTML report (``auditora view`` / ``auditora report``).

Standard library only. :func:`make_server` serves a store read-only on
127.0.0.1; :func:`write_report` writes the same pages as one self-contained
HTML file. The front-end (vanilla JavaScript, SVG and CSS) ships inside the
package and loads nothing from the network. See ``docs/viewer.md``.
"""

from __future__ import annotations

from ._report import render_report, write_report
from ._server import ViewerServer, make_server

__all__ = ["ViewerServer", "make_server", "render_report", "write_report"]
