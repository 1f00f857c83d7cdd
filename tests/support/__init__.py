"""Test helpers shared across the suite (real servers speaking real protocols)."""
