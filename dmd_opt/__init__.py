"""dmd_opt — dynamic mechanism design as optimisation."""
__version__ = "0.1.0"
