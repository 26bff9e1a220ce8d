"""One training session of a run: the loop's callbacks, each owning one of the run directory's files or duties.

    state.py        RunState (what the callbacks share: config, directory, agent, clock, latest numbers), the
                    session's extra hooks (RunCallback) and their fan-out (RunCallbacks)
    files.py        metrics.csv, updates.csv, evals.csv; the losses averaged into each row of updates.csv
    evaluation.py   the periodic and final evaluations, checkpoints/best, target_reward
    checkpoints.py  the finiteness scan before every save, the periodic checkpoints/last
    summary.py      summary.json
    tensorboard.py  TensorBoard event files (train.tensorboard)
    progress.py     the reporter's live progress
    signals.py      SIGINT/SIGTERM: stop after the current update, then save; a second stops at once
    pruning.py      evaluations reported to a tuner (`neurenix tune`), which may stop the run (`pruned`)
    loop.py         Session: opens the env and the files, wires the callbacks, runs the loop, ends the run

A new integration is one more RunCallback in `Session`'s list; a caller's own (the pruning hook) comes through
`experiment.train(..., callbacks=...)`.
"""
