-- The id of what created the order (its create request's, or the import message's), which every
-- step that handles the order logs. Orders stored before have none.
ALTER TABLE orders ADD COLUMN correlation_id TEXT;
