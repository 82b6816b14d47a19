-- Why a failed order failed, as the client or the workflow that failed it said.
ALTER TABLE orders ADD COLUMN failure_reason TEXT;
