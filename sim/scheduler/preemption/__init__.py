"""Preemption: evicting lower-priority allocations to place higher-priority ones (Nomad's preemptor)."""
