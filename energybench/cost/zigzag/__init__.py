"""ZigZag (KULeuven-MICAS/zigzag, PyPI zigzag-dse) behind energybench's mapper interface:
hardware.py translates an architecture file, workload.py each (layer, pass), runner.py maps
them with LOMA in parallel processes, cache.py keeps the answers on disk. The mapper itself is
energybench.cost.mappers.zigzag. ZigZag is an optional extra: `pip install 'energybench[zigzag]'`.
"""
