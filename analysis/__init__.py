"""Analysis: trajectories -> events table -> metrics with clustered bootstrap intervals."""
