-- Attempts carried by a batch scheduler: the backend that ran them, the Slurm job
-- id, and the file the worker writes its events to, so a restarted orchestrator
-- reconnects to a job still queued or running instead of submitting it again.
ALTER TABLE attempts ADD COLUMN backend TEXT NOT NULL DEFAULT 'local';
ALTER TABLE attempts ADD COLUMN job_id TEXT;
ALTER TABLE attempts ADD COLUMN events_path TEXT;
