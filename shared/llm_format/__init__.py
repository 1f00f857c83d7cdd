"""The one prompt and answer format of QuoteFlow's LLM, shared by serving (extract) and training (trainer).

An adapter is only worth its tuning if it is asked exactly what it was trained on, so both
sides render prompts here and nowhere else:

- :mod:`shared.llm_format.prompts` — the thread as the model reads it, the two tasks (key facts;
  summary and tags), Gemma's turn template, few-shot turns, trimming to a token budget, the
  training conversation of a thread;
- :mod:`shared.llm_format.answers` — the answer texts (training targets and few-shot answers),
  the JSON schemas the servers enforce, and the parsers that validate what the model wrote.
"""
