"""energybench: class-incremental learning benchmarked together with its hardware cost."""

__version__ = "0.1.0"
