"""The providers family: ``select_provider``, constraints to a ranked list of concrete fine-tuning options."""
