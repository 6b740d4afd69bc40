"""One package per area; views parse, authorize, call a service, render."""
