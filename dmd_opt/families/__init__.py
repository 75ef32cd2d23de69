"""Designer program families: revenue, efficient, contingent and recursive.

Each family turns an environment into programs or dynamic-programming problems,
decodes the answer into mechanisms and registers its model kind.
"""
