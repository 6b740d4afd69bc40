"""Business rules. Services take models and plain data, flush, and never commit."""
