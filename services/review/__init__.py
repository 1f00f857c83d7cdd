"""The review desk: people check, correct and approve extracted facts and quotes in a browser."""
