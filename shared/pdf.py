"""HTML to PDF with WeasyPrint (the pdf extra): quote writes each revision's PDF, the review desk prints one."""

from __future__ import annotations


class PdfUnavailableError(RuntimeError):
    """WeasyPrint (the pdf extra) is not installed."""


def html_to_pdf(html: str) -> bytes:
    """Print an HTML document to PDF; only inline (data:) resources are loaded, so a document cannot make the
    service fetch a URL or read a local file."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except ImportError as exc:  # pragma: no cover - the pdf extra is missing
        raise PdfUnavailableError("PDF output needs WeasyPrint (the pdf extra: pip install weasyprint)") from exc
    fetcher = URLFetcher(allowed_protocols=("data",), allow_redirects=False)
    return HTML(string=html, url_fetcher=fetcher).write_pdf()  # type: ignore[no-any-return]
