"""The train family: ``launch_lora`` and the run tools (``run_status``, ``stop_run``, ``resume_run``), the
run-folder library (:mod:`.runs`) and the worker process that trains.
"""
