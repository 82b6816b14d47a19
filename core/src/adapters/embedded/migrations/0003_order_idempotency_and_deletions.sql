
    -- What made an order's create idempotent, kept on the order so that its change records and
    -- backups carry it (a restore then protects the key again). Existing orders take theirs from
    -- the live key records.
    ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
    ALTER TABLE orders ADD COLUMN idempotency_fingerprint TEXT;
    ALTER TABLE orders ADD COLUMN idempotency_expires_at INTEGER;
    UPDATE orders SET idempotency_key = k.key, idempotency_fingerprint = k.fingerprint,
                      idempotency_expires_at = k.expires_at
      FROM idempotency_keys AS k WHERE k.order_id = orders.order_id;

    -- Every order deleted here: a restore must never bring one back, also when its backup
    -- tombstone is not written yet.
    CREATE TABLE deleted_orders (
        order_id     TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL,
        deleted_at   TEXT NOT NULL
    ) WITHOUT ROWID;
