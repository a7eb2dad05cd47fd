"""The Alpaca prompt as the model reads it: TALLRec's plain text (default), or, with
`model.chat_template: true`, wrapped in the tokenizer's chat template (instruction-tuned models).

Under a chat template the user turn is the Alpaca instruction and input, the prompt ends with the
template's generation prompt (the assistant turn's opening, where P(Yes) is read), and a training
example is that conversation with the answer ("Yes." / "No.") as the assistant turn. The rendered
text already holds the template's special tokens (a BOS included where the template writes one),
so it is tokenised without adding any, as `apply_chat_template(tokenize=True)` does.
"""
from __future__ import annotations

from harness.core.errors import HarnessError


def user_message(instruction: str, input: str = "") -> str:
    return f"{instruction}\n\n{input}" if input else instruction


def check_chat_template(tokenizer, name: str) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise HarnessError(f"model {name!r}: its tokenizer has no chat template; "
                           "set model.chat_template: false (the plain Alpaca prompt)")


def chat_prompt(tokenizer, instruction: str, input: str = "") -> str:
    """The user turn plus the generation prompt: the answer's first token comes next."""
    messages = [{"role": "user", "content": user_message(instruction, input)}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def chat_example(tokenizer, instruction: str, input: str, output: str) -> tuple[str, str]:
    """(prompt, whole conversation) of a training example; the prompt is a prefix of it, so
    `train_on_inputs: false` can mask exactly the prompt's tokens."""
    prompt = chat_prompt(tokenizer, instruction, input)
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_message(instruction, input)},
         {"role": "assistant", "content": output}], tokenize=False)
    if not full.startswith(prompt):
        raise HarnessError("the chat template renders a conversation that does not start with its "
                           "generation prompt: the prompt of a training example cannot be masked")
    return prompt, full


def encode(tokenizer, texts: list[str], chat: bool, **kwargs) -> list[list[int]]:
    """Token ids as the model sees them: chat-template text carries its own special tokens."""
    return tokenizer(list(texts), add_special_tokens=not chat, **kwargs)["input_ids"]
