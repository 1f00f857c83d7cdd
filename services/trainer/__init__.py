"""Trainer: collects corrected facts and fine-tunes, evaluates and promotes LoRA adapters."""
