-- Peak memory of each attempt, as its worker reported it (`memory` events):
-- private host memory (RssAnon, sampled) and GPU memory, in bytes. NULL: not
-- reported (an attempt from before this migration, or a worker that does not say).
ALTER TABLE attempts ADD COLUMN peak_host_bytes INTEGER;
ALTER TABLE attempts ADD COLUMN peak_gpu_bytes INTEGER;
