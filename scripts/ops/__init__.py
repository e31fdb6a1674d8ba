"""Day-to-day commands on a running stack: logs, secrets, one-off commands and shells."""
