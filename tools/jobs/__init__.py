"""The jobs family: fine-tuning jobs at providers (``launch_provider_job``, ``provider_job_status``) over
each provider's API client (:mod:`.openai_api`, :mod:`.together_api`).
"""
