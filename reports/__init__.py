"""Human-readable reports rendered from the warehouse (a daily self-contained HTML page)."""

from reports.daily import ReportResult, render_daily_report

__all__ = ["ReportResult", "render_daily_report"]
