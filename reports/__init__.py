"""Reports and entry points: HTML report, terminal summary, the CLI and the pytest plugin."""
