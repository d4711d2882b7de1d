"""The cost family: ``estimate_cost`` (training, inference, hosting, break-even) with its models and arithmetic."""
