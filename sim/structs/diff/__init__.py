"""Job diffs in Nomad's JobDiff shape (nomad/structs/diff.go) and the scheduler's plan annotations."""
