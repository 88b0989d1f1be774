"""One helper: a function over many tasks in worker processes, in order, with a bar."""

import multiprocessing


def parallel_map(function, tasks, workers, progress, description, unit="img", serial_below=256):
    """Yields function(task) for each task, in order, from `workers` spawned processes
    (in this process when workers <= 1 or there are fewer than serial_below tasks),
    with a tqdm progress bar.

    >>> list(parallel_map(abs, [-1, 2, -3], workers=2, progress=False, description="abs"))
    [1, 2, 3]
    """
    from tqdm.auto import tqdm

    with tqdm(total=len(tasks), desc=description, unit=unit, disable=not progress) as bar:
        if workers <= 1 or len(tasks) < serial_below:
            for task in tasks:
                yield function(task)
                bar.update()
            return
        with _pool(workers) as pool:
            for result in pool.imap(function, tasks, chunksize=64):
                yield result
                bar.update()


def _pool(workers):
    """A pool of spawned workers (fork is unsafe once a backend's threads run). They
    import only the data modules, which never import Keras."""
    return multiprocessing.get_context("spawn").Pool(workers)
