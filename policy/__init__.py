"""The swarm-guardrails policy pack (see rules.py; __main__.py is the pack's entry point)."""
