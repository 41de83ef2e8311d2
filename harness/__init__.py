"""Runs the Pulumi program under Pulumi's mock runtime and records what it registers.

Used by the program tests, the lab engine and the benchmarks: one runner, so
all three see the program the same way the engine would.
"""
