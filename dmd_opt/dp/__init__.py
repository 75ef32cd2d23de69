"""Dynamic-programming engines: finite MDPs (:mod:`.mdp`) and stacked Bellman LPs on promised utility (:mod:`.bellman`)."""
