"""The claims report: what each report said, what was measured, the verdict."""

from .writer import write_report

__all__ = ["write_report"]
