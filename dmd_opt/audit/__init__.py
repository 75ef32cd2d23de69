"""Reading a solved program through its row labels: binding constraints and the optimal face."""

from dmd_opt.audit.binding import Audit, audit
from dmd_opt.audit.face import optimal_face

__all__ = ["Audit", "audit", "optimal_face"]
