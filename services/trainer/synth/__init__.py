"""Synthetic buyer–supplier conversations with ground truth by construction, and training dataset builders."""
