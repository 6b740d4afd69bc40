"""Open Badges 3.0 credentials: issue (claim, sign, revoke), status lists, baked images, verification."""
