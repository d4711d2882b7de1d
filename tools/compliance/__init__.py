"""The compliance family: ``check_compliance``, which fine-tuning paths a set of legal and data constraints allows."""
