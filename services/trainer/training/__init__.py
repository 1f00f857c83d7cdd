"""LoRA training of the extraction model: chat format, data, stages, evaluation.

Everything here imports torch/transformers/peft lazily (inside functions), so the
trainer service and ``quoteflow --help`` start without loading them.
"""
