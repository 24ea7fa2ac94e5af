"""Real agent sessions, read from the agents' own logs, as trajectories."""
