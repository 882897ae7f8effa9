"""Garbage-collector settings for a long-running worker.

A worker holds some 100,000 objects from start-up (knowledge, models, modules) that live as long as it
does, and each request allocates tens of thousands more (the parsed JSON). Python's collector walks every
tracked object on each full collection, so with the start-up objects in the heap a large request paid
several full walks of it: ``orjson.loads`` of a 1,000-resource body took about five times longer in a
loaded worker than in an empty interpreter. ``gc.freeze`` moves what exists after start-up out of the
collector's reach; requests then pay only for their own objects. The benchmark calls this too, so both
measure the same process.
"""

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exempt every surviving object from later collections. Call when start-up is done."""
    gc.collect()
    gc.freeze()
