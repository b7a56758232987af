"""Reading and validating user instruction data before it enters a pipeline (no Ray here)."""
