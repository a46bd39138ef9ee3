"""A test kit that needs no network and runs in seconds: a tiny real tokenizer built in code, a
tiny causal LM built in memory, and helpers to save both as a model directory.

Used by seedtune's own tests and useful to anyone testing a pipeline built on it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

# A small bilingual corpus: enough for a byte-level BPE to learn common English and Chinese merges.
_CORPUS = [
    "Translate the following sentence to French.", "Summarize the paragraph in one sentence.",
    "Classify the sentiment of the review as positive or negative.", "Write a Python function that returns the sum of a list.",
    "What is the capital of France? The capital of France is Paris.", "Let's think step by step. The answer is 42.",
    "Below is an instruction. Instruction: Input: Response:", "J'aime manger des pommes.", "I like to eat apples.",
    "我喜欢吃苹果。", "请把下面的句子翻译成英文。", "总结这段话的主要内容。", "这部电影非常好看，我很喜欢。",
    "判断下面评论的情感是正面还是负面。", "让我们一步一步地思考。答案是四十二。", "北京是中国的首都。",
    "user assistant system", "The quick brown fox jumps over the lazy dog.", "0 1 2 3 4 5 6 7 8 9 10 100",
]
SPECIAL = ["<pad>", "<bos>", "<eos>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@lru_cache(maxsize=4)
def _tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 512, chat_template: bool = True, pad_is_eos: bool = False) -> Any:
    """A real byte-level BPE tokenizer (any text, Chinese included, round-trips) in ~0.1 s."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json(vocab_size)),
        bos_token="<bos>", eos_token="<eos>", unk_token="<unk>",
        pad_token="<eos>" if pad_is_eos else "<pad>",
    )
    if chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        tokenizer.eos_token = "<|im_end|>" if pad_is_eos else tokenizer.eos_token
    return tokenizer


def tiny_model(tokenizer: Any = None, *, hidden_size: int = 32, layers: int = 2, seed: int = 0, arch: str = "llama") -> Any:
    """A 2-layer causal LM sized to the tokenizer; deterministic for a given seed. `arch`: llama,
    gemma, or gemma3 (q/k norms, four norms a layer, one local layer with a 16-token window)."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, GemmaConfig, LlamaConfig

    tokenizer = tokenizer or tiny_tokenizer()
    common = dict(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    if arch == "gemma3":
        config = Gemma3TextConfig(head_dim=hidden_size // 4, sliding_window=16,
                                  layer_types=(["sliding_attention", "full_attention"] * layers)[:layers], **common)
    else:
        config = LlamaConfig(**common) if arch == "llama" else GemmaConfig(head_dim=hidden_size // 4, **common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.eval()
    return model


def save_tiny_model(directory: str | Path, **kwargs: Any) -> Path:
    """Write a tiny model + tokenizer as a normal HF directory (loads with from_pretrained)."""
    directory = Path(directory)
    tokenizer = tiny_tokenizer(**{k: v for k, v in kwargs.items() if k in ("vocab_size", "chat_template", "pad_is_eos")})
    model = tiny_model(tokenizer, **{k: v for k, v in kwargs.items() if k in ("hidden_size", "layers", "seed", "arch")})
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
