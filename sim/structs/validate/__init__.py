"""Job validation with Nomad's exact error messages (Job.Validate and the job endpoint hooks)."""
