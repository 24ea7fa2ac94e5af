"""Agents: model adapters, tools, the git sandbox, the LangGraph loop and the runner.

Output of this package is the trajectory record (`stickiness.agents.trajectory`), which is all
the analysis reads.
"""
