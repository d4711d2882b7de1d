"""The offline guide: the conversation `finetune chat` holds without an API key (see backend.py).

amounts: numbers, ranges and currencies in a person's words; understand: answers, commands, requests and
questions; summaries: what the guide says about a tool result; plans: the walk's tool calls and their
arguments; answers_file: ``--answers FILE.yaml``; backend: the policy itself.
"""

from skill.guide.answers_file import INPUT_KEYS, GuideInputs, load_answers_file, split_answers_file
from skill.guide.backend import OPENING, GuideBackend
from skill.guide.understand import Understood, understand

__all__ = [
    "INPUT_KEYS",
    "OPENING",
    "GuideBackend",
    "GuideInputs",
    "Understood",
    "load_answers_file",
    "split_answers_file",
    "understand",
]
