"""The prepare family: ``prepare_data``, rows in any common shape to training JSONL for a target format."""
