-- The results database. The orchestrator is its only writer; readers (status,
-- report) open it read-only. JSON columns hold the types of ablate-spec/-train.

CREATE TABLE sweeps (
    name       TEXT PRIMARY KEY,
    file       TEXT NOT NULL,
    spec_text  TEXT NOT NULL,
    spec_hash  TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A trial is shared by every sweep and study that lists it (id = hash of its config).
CREATE TABLE trials (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('train', 'pretrain')),
    config     TEXT NOT NULL,
    exec       TEXT NOT NULL,
    labels     TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'blocked', 'interrupted')),
    reason     TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE trial_deps (
    trial_id   TEXT NOT NULL REFERENCES trials(id),
    depends_on TEXT NOT NULL REFERENCES trials(id),
    PRIMARY KEY (trial_id, depends_on)
);

-- Which sweep and study (or 'pretrain:<stage>') lists a trial, in run order.
CREATE TABLE memberships (
    sweep    TEXT NOT NULL,
    study    TEXT NOT NULL,
    trial_id TEXT NOT NULL REFERENCES trials(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (sweep, study, trial_id)
);

CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id         TEXT NOT NULL REFERENCES trials(id),
    sweep            TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at       TEXT NOT NULL,
    ended_at         TEXT,
    slot             TEXT NOT NULL,
    device           TEXT NOT NULL,
    device_name      TEXT,
    threads          INTEGER NOT NULL,
    host             TEXT NOT NULL,
    pid              INTEGER,
    orchestrator_pid INTEGER NOT NULL,
    exit_code        INTEGER,
    signal           INTEGER,
    failure_class    TEXT,
    message          TEXT,
    ablate_version   TEXT NOT NULL,
    git_commit       TEXT,
    git_dirty        INTEGER
);
CREATE INDEX attempts_by_trial ON attempts (trial_id);
CREATE INDEX attempts_running ON attempts (state) WHERE state = 'running';

CREATE TABLE epochs (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    trial_id   TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    report     TEXT NOT NULL,
    PRIMARY KEY (attempt_id, epoch)
);

CREATE TABLE results (
    trial_id    TEXT PRIMARY KEY REFERENCES trials(id),
    attempt_id  INTEGER NOT NULL REFERENCES attempts(id),
    result      TEXT NOT NULL,
    degenerate  INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
);

CREATE TABLE artifacts (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    path     TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    bytes    INTEGER NOT NULL,
    PRIMARY KEY (trial_id, path)
);
