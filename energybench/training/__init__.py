"""The training loop (SGD, timing, counted first steps) and evaluation, below the methods:
methods call the trainer; the trainer knows nothing of methods."""
