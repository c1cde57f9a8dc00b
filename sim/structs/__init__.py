"""The job model and Nomad's other structs (Nomad: nomad/structs), with their JSON codec,
defaults, validation and diffs."""
