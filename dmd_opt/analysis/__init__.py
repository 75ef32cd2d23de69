"""Comparing mechanisms: optimal vs efficient, the revenue–welfare frontier, plots."""
