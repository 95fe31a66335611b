"""What the notebooks need beside the algorithms: checks, plots, sliders, exercises, the catalog of boxes."""
