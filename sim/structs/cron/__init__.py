"""Cron specs as Nomad's periodic jobs parse and evaluate them (hashicorp/cronexpr)."""
