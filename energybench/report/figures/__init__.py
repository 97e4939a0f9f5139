"""The run report's figures, one module per family; report/plots.py lists them in report order."""
