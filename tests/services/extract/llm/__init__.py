"""Tests of the LLM extraction engine (services/extract/llm)."""
