"""The core layer: errors, validators, the Environment and its type processes, the history tree.

Nothing here knows of programs, solvers or mechanisms; every other layer stands on it.
"""
