"""The Alpaca prompt template TALLRec uses, rendered exactly.

TALLRec's finetune_rec.py / evaluate.py (inherited from alpaca-lora) put `  # noqa: E501` inside
the template string, so the published runs saw that text at the end of the first line. The
default `alpaca` template is the clean one; `alpaca-noqa` replicates the published prompts.
"""
from __future__ import annotations

_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides "
               "further context. Write a response that appropriately completes the request.")
_NO_INPUT = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
_NOQA = "  # noqa: E501"

TEMPLATES = ("alpaca", "alpaca-noqa")


def render_prompt(instruction: str, input: str = "", template: str = "alpaca") -> str:
    """The prompt up to and including `### Response:\\n` (the answer is appended after it)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; known: {', '.join(TEMPLATES)}")
    suffix = _NOQA if template == "alpaca-noqa" else ""
    if input:
        return (f"{_WITH_INPUT}{suffix}\n\n### Instruction:\n{instruction}\n\n"
                f"### Input:\n{input}\n\n### Response:\n")
    return f"{_NO_INPUT}{suffix}\n\n### Instruction:\n{instruction}\n\n### Response:\n"


def render_example(instruction: str, input: str, output: str, template: str = "alpaca") -> str:
    """Prompt plus answer: the text a training example is made of."""
    return render_prompt(instruction, input, template) + output
