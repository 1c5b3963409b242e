"""``kstalerts run``: run a job, keep its state, alert on its failures.

- :mod:`.run`: the job from start to finish (:func:`~kstalerts.run_job`,
  :class:`~kstalerts.JobResult`), what ties the others together;
- :mod:`.process`: the child process: start, deadline, signals, output;
- :mod:`.state`: the job's state file and its lock (failures counted, since when);
- :mod:`.alerts`: what to send after a run (failure, still failing, recovered).

Public names are re-exported from :mod:`kstalerts`; importing this package
loads none of its modules.
"""

__all__ = ()
