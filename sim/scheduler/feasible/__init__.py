"""feasible."""
