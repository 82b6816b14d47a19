-- When a reservation was refused for want of stock (milliseconds since the epoch): `orders status`
-- counts the stock-outs of the last hour. Refusals recorded before this migration have no time and
-- are not counted.
ALTER TABLE stock_reservations ADD COLUMN refused_at INTEGER;
CREATE INDEX stock_reservations_by_refusal ON stock_reservations (refused_at) WHERE refused_at IS NOT NULL;
