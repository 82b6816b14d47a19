-- Stock: units available (NULL: not tracked), units reserved by orders in progress, and a version
-- that every change to the product bumps (a stock update conditional on it sees every reservation).
ALTER TABLE catalog ADD COLUMN stock INTEGER CHECK (stock >= 0);
ALTER TABLE catalog ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0);
ALTER TABLE catalog ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Each order's reservation, decided once: reserved, refused, released or consumed; the lines it
-- holds (JSON, tracked products only); the refusal (JSON) when there was not enough stock.
CREATE TABLE stock_reservations (
    order_id TEXT PRIMARY KEY,
    state    TEXT NOT NULL,
    lines    TEXT NOT NULL,
    refusal  TEXT
) WITHOUT ROWID;
