"""Evaluation harness of the talk: key-fact F1, tag F1, SemScore, LLM judge, FineSurE, baseline engine, reports."""
