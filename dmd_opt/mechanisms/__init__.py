"""Mechanisms as users see them: rules on public histories (:mod:`.tree`) or Markov states (:mod:`.markov`)."""
