"""The cyclic garbage collector of a long-running service: what start-up made stays out of it.

A full (generation 2) collection scans every container object that has survived two
collections. After start-up, most of them are the program itself: ~150,000 functions,
types, descriptors, tuples and dicts from the imports, alive until the process ends. At
1,000 devices each orchestrator paused its event loop for 150-320 ms in such collections
about every 10 s (bench/scale.py), long enough that the failure detector, which holds
judgement after a 0.25 s lag, did so again and again. ``gc.freeze`` moves everything alive
at that moment to a generation no collection scans; those objects are still freed by
reference counting if they are ever dropped, only a reference cycle among them would stay.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect once, then leave every object alive now out of later collections (call when
    start-up imports are done, before serving); how many objects were set aside."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
