"""pytest entry point: `pytest scenarios/` runs each scenario file here as tests.

The hooks live in `stickiness.reports.pytest_plugin`; importing them here scopes them to
this folder, so other test suites are untouched.
"""

from stickiness.reports.pytest_plugin import (  # noqa: F401
    pytest_addoption,
    pytest_collect_file,
    pytest_configure,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
