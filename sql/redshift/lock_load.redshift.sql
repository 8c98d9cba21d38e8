-- REDSHIFT ONLY. Redshift has no advisory locks; LOCK takes an exclusive table lock held
-- until commit or rollback, so loads are serialised (all days, not only the same day;
-- the nightly Map's concurrency is small, so that costs little).
lock audit.load_log
