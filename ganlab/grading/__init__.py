"""Grading assignment notebooks so that every reported point was earned.

The stages, one module each:

* :mod:`ganlab.grading.sources`: the instructor's source notebooks, and which one a
  submission answers;
* :mod:`ganlab.grading.restore`: the submission with the source's check cells put back
  (hidden tests included) and its tampering noted;
* :mod:`ganlab.grading.run`: the restored notebook under nbval in the sandbox, with the
  judge beside it, and what each cell did;
* :mod:`ganlab.grading.report`: the JSON report, CSV, feedback files, Gradescope and
  Canvas exports;
* :mod:`ganlab.grading.evidence`: what a check cell's calls of student code leave
  behind while grading (recorded in the kernel), and how the grader replays it;
* :mod:`ganlab.grading.judge`: the grader's own process that decides every check, outside
  the kernel, by replaying that evidence through the checks with its own references;
* :mod:`ganlab.grading.integrity`: what a submission's code tries (answers taken from the
  package, patched checks, instructor files), read from its source;
* :mod:`ganlab.grading.sandbox`: running a submission under bubblewrap (no network,
  private ``HOME`` and ``/tmp``, read-only system, memory limit, no process outlives it);
* :mod:`ganlab.grading.plugin`: the pytest plugin written next to the notebook nbval runs;
* :mod:`ganlab.grade`: the command ``python -m ganlab grade`` that ties them together.
"""
