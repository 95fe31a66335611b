"""The core: validated configs, divergence reports and the sweep that runs many trainings on every device."""
