"""Moving a fine-tuned OpenAI model to an open-weight LoRA before OpenAI stops serving it.

The tools, in the order a migration runs: :mod:`openai_inventory` (the fine-tunes, their jobs and training files,
and how long they serve), :mod:`record_golden_outputs` (the old model's answers on held-out prompts, while it still
answers), :mod:`choose_replacement` (an open-weight base and the places to train and serve it, priced against
today's OpenAI cost) and :mod:`migration_report` (the replacement compared with the golden outputs, and the report).
Training itself is launch_lora's (or launch_provider_job's). :mod:`facts` holds the dates and prices, all read from
reference/data.
"""
