# Whole-sweep progress on the console (topolearn.sweep.progress): networks trained and analysed and
# the time left, one line on stderr when a count changes. Only in the main process of a Snakemake
# that runs jobs (not in a dry run, an inspecting command or a job's own Snakemake); counting starts
# in onstart, after planning. TOPOLEARN_PROGRESS=0 silences it.
from topolearn.sweep import progress as _progress

_reporter = (_progress.Reporter(_progress.run_files(RESULTS, RUN_IDS, ANALYSIS_FINGERPRINT), ANALYSIS_FINGERPRINT)
             if _runs_jobs and _progress.enabled() else None)


onstart:
    if _reporter is not None:
        _reporter.start()


onsuccess:
    if _reporter is not None:
        _reporter.stop()


onerror:
    if _reporter is not None:
        _reporter.stop()
