"""The worker side of scoring: one submission through validate, generate and score with gan_core.

Only worker processes import this package (``scoring.tasks`` imports it inside the task bodies):
it imports torch through gan_core. Its modules, along the run:

- :mod:`scoring.worker.pipeline`: the task body: claim, lease, validate, the two runs, score,
  finish, fail or release for retry (and which of those an error means);
- :mod:`scoring.worker.runs`: the preview run and the hidden run, kept apart so that no hidden
  input reaches a participant;
- :mod:`scoring.worker.scores`: the scores of a run's outputs and the cached reference statistics
  of the style set;
- :mod:`scoring.worker.cache`: local copies of stored files in ``ATELIER_WORKER_CACHE_DIR``;
- :mod:`scoring.worker.faults`: the platform's own resource failures (full disk, no inodes, a
  read-only or vanished cache, storage) told apart from the participant's;
- :mod:`scoring.worker.database`: the run's database writes, retried on a fresh connection after a
  database blip;
- :mod:`scoring.worker.upkeep`: the cache's upkeep (work folders of killed runs, the size bound
  ``ATELIER_WORKER_CACHE_MAX_MB``), when a worker starts and after every run.
- :mod:`scoring.worker.weights_report`: the worker's pretrained feature weights, reported to the
  database when it starts and every ``ATELIER_WORKER_WEIGHTS_REPORT_S``.

Everything the worker reads or writes goes through Django's storage API (``private_storage()``),
so a worker on another machine works against S3-compatible object storage as well as against
local disk; it keeps local copies in ``ATELIER_WORKER_CACHE_DIR``:

- ``checkpoints/<sha256>``: the submission's file, verified against its SHA-256;
- ``datasets/<key>/``: an image set's files under their names, ``key`` = SHA-256 of the sorted
  ``name:sha256`` lines of the set's images (so a changed set is a new folder); written in a
  temporary folder and renamed into place, so concurrent workers never see half a set;
- ``reference-stats/``: gan_core's ``ReferenceCache`` of style-set statistics, mirrored from the
  ``ReferenceStats`` rows and their files in private storage (computed once, by whichever worker
  needs them first);
- ``work/<submission>-<token>/``: one attempt's outputs (``preview/`` of the preview run, ``outputs/`` of the
  hidden run; see :mod:`scoring.worker.runs`), removed when the attempt ends, or by the upkeep
  once no live lease holds its token (the run was killed).

Outcomes: a ``GeneratorFailure`` from gan_core (bad checkpoint, broken output contract, out of
memory, timeout...) is the participant's and final (counts against the quota), except
``sandbox_unavailable`` and ``platform_no_space`` (writes refused with no output cap reached, released
as ``worker_disk_full``), which are the platform's and retried like every other error (storage,
database, missing weights, worker limits): back to the queue, failing without counting against
the quota once ``Submission.MAX_ATTEMPTS`` attempts are spent.
"""
