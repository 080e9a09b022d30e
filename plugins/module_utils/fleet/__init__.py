"""The fleet view on the controller: per-host reports checked, merged per address and drawn over time."""
