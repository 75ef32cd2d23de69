"""What users touch: model files (:mod:`.models`), the ``dmd-opt`` command (:mod:`.cli`), sweeps (:mod:`.sweep`)."""
