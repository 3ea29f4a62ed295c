-- The studies of a sweep in the order its file declares them (a JSON list of
-- names, pretraining stages first as `pretrain:<stage>`), for status and reports.
ALTER TABLE sweeps ADD COLUMN studies TEXT NOT NULL DEFAULT '[]';
