-- What a result was trained on and by: the content digest of its data (labels and
-- pixels, not mtimes) and the trainer's version. A result whose digest or version
-- differs from the current ones is stale and rerun. NULL: recorded before this
-- migration (unknown), which is not taken for stale.
ALTER TABLE results ADD COLUMN data_digest TEXT;
ALTER TABLE results ADD COLUMN trainer_version TEXT;
-- For a trial that starts from pretraining: the attempt whose result (checkpoint)
-- it started from. When the pretraining trial's result is replaced, this one is stale.
ALTER TABLE results ADD COLUMN init_attempt INTEGER;
UPDATE results SET trainer_version = CAST(json_extract(result, '$.trainer_version') AS TEXT)
    WHERE json_valid(result) AND json_extract(result, '$.trainer_version') IS NOT NULL;

-- Results that a rerun replaced (stale data or trainer, or a new success of the
-- same trial), kept with why: a recorded result is never lost.
CREATE TABLE superseded_results (
    trial_id        TEXT NOT NULL REFERENCES trials(id),
    attempt_id      INTEGER NOT NULL REFERENCES attempts(id),
    result          TEXT NOT NULL,
    degenerate      INTEGER NOT NULL,
    recorded_at     TEXT NOT NULL,
    data_digest     TEXT,
    trainer_version TEXT,
    init_attempt    INTEGER,
    reason          TEXT NOT NULL,
    superseded_at   TEXT NOT NULL
);
CREATE INDEX superseded_by_trial ON superseded_results (trial_id);
