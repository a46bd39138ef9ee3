"""The model side of training: load, wrap in LoRA (or not), the loss module, the packing check.

`SFTModule` is what accelerate wraps (DDP/FSDP/DeepSpeed): its forward runs the decoder to
hidden states and the chunked head loss, so data-parallel hooks see one ordinary forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seedtune.errors import SeedtuneError
from seedtune.train.loss import head_loss_sum, reference_loss_sum, shift_targets


def resolve(name_or_path: str) -> Path:
    """A local model directory for a name (`seedtune.models.resolve_model`)."""
    from seedtune.models import resolve_model

    return Path(resolve_model(name_or_path))


def load_base(name_or_path: str, dtype: torch.dtype, qlora: bool = False) -> tuple[Any, Any, Path]:
    """(model, tokenizer, resolved dir). QLoRA loads the frozen base in 4-bit on CUDA."""
    from seedtune.models.loading import load_causal_lm

    path = resolve(name_or_path)
    kwargs: dict[str, Any] = {}
    device: str | None = "cpu"
    if qlora:
        if not torch.cuda.is_available():
            raise SeedtuneError("QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels)",
                                hint="drop qlora=true to train a plain LoRA on CPU")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise SeedtuneError("QLoRA needs bitsandbytes", hint="pip install 'seedtune[gpu]'") from exc
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
        device = None  # placed by device_map
    # The one safe loader (safetensors only, remote code only when asked); the pad token it sets
    # is EOS when missing, safe here because labels are structural and EOS stays trained.
    model, tokenizer = load_causal_lm(path, dtype=dtype, device=device, eval_mode=False, attn_implementation="sdpa",
                                      **kwargs)
    return model, tokenizer, path


def add_lora(model: Any, r: int, alpha: float, dropout: float, targets: list[str] | str, qlora: bool = False) -> Any:
    """Wrap in a peft LoRA adapter; trainable adapter weights are kept in fp32 (master weights)."""
    from peft import LoraConfig, get_peft_model

    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, config, autocast_adapter_dtype=True)
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    # peft casts each adapter input to the adapter's dtype (fp32) and autocast casts it straight
    # back to bf16 for the matmul: two full-activation copies per adapted layer, ~15% of a CPU
    # step in our profile. Autocast already picks the matmul dtype, so skip peft's cast.
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer) and hasattr(module, "cast_input_dtype_enabled"):
            module.cast_input_dtype_enabled = False
    return model


def causal_lm_of(model: Any) -> Any:
    """The transformers *ForCausalLM inside a peft wrapper (LoRA layers are injected in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class SFTModule(torch.nn.Module):
    """forward(ids, positions, labels) -> summed CE over trained tokens (see loss.py)."""

    def __init__(self, model: Any, chunk: int | None = None):
        super().__init__()
        self.model = model
        self.chunk = chunk
        lm = causal_lm_of(model)
        self.softcap = getattr(lm.config.get_text_config(), "final_logit_softcapping", None)
        # accelerate's FSDP auto-wrap (and our CPU FSDP) shard the classes named here, one per
        # decoder layer; the wrapper must expose the inner model's list.
        self._no_split_modules = list(getattr(lm, "_no_split_modules", None) or [])

    def head(self) -> torch.nn.Module:
        return causal_lm_of(self.model).get_output_embeddings()

    def hidden(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        lm = causal_lm_of(self.model)
        # attention_mask=None + restarting position_ids + no cache -> block-diagonal causal mask.
        out = lm.get_decoder()(input_ids=input_ids, position_ids=position_ids, attention_mask=None, use_cache=False)
        return out.last_hidden_state  # [B, L, H]

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.hidden(input_ids, position_ids)
        idx, y = shift_targets(labels, position_ids)
        h = h.reshape(-1, h.shape[-1]).index_select(0, idx)  # [N, H]: only positions with a trained next token
        # Under FSDP2 the head weight belongs to the root group, unsharded for this whole forward;
        # under ZeRO-3 it is registered as an external parameter of this module (distributed.py).
        head = self.head()
        return head_loss_sum(h, head.weight, y, chunk=self.chunk, softcap=self.softcap,
                             bias=getattr(head, "bias", None))


class SequenceLogProbs(SFTModule):
    """forward(ids, positions, labels) -> [B]: each row's summed log-prob of its trained tokens.

    DPO needs one number per sequence, not one per batch, so the chunked head loss runs once per
    row (it returns a sum); memory stays O(chunk x vocab) as in SFT.
    """

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.hidden(input_ids, position_ids)
        idx, y = shift_targets(labels, position_ids)
        owner = idx // input_ids.shape[1]  # which row each trained position belongs to
        flat = h.reshape(-1, h.shape[-1])
        head = causal_lm_of(self.model).get_output_embeddings()
        out = []
        for b in range(input_ids.shape[0]):
            sel = (owner == b).nonzero(as_tuple=True)[0]
            out.append(-head_loss_sum(flat.index_select(0, idx[sel]), head.weight, y[sel], chunk=self.chunk,
                                      softcap=self.softcap, bias=getattr(head, "bias", None)))
        return torch.stack(out)


@torch.no_grad()
def self_check_packing(module: SFTModule, rows: list[Any], pad_id: int, tol: float = 2e-3) -> dict[str, float]:
    """Packed vs unpacked: hidden states per sample and our loss vs the model's own logits.

    `rows` are packed rows (several samples each). Each sample is also run alone; the packed
    hidden states must match. Runs in fp32 without autocast so the tolerance is meaningful.
    Raises when isolation fails: training on leaking rows would silently corrupt the model.
    """
    from seedtune.train.packing import collate

    was_training = module.training
    module.eval()
    worst = 0.0
    loss_gap = 0.0
    try:
        for row in rows:
            ids, pos, labels = collate([row], pad_id)
            packed = module.hidden(ids, pos)[0].float()
            starts = [i for i, p in enumerate(row.position_ids) if p == 0] + [len(row)]
            for a, b in zip(starts, starts[1:]):
                alone = module.hidden(ids[:, a:b], pos[:, a:b])[0].float()
                scale = alone.abs().max().clamp_min(1.0)
                worst = max(worst, float((packed[a:b] - alone).abs().max() / scale))
            lm = causal_lm_of(module.model)
            logits = lm(input_ids=ids, position_ids=pos, attention_mask=None, use_cache=False).logits
            ref = reference_loss_sum(logits, labels, pos)
            ours = module(ids, pos, labels)
            loss_gap = max(loss_gap, float((ours - ref).abs() / ref.abs().clamp_min(1e-6)))
    finally:
        module.train(was_training)
    result = {"max_rel_diff": worst, "loss_rel_diff": loss_gap}
    if worst > tol:
        raise SeedtuneError(
            f"packing self-check failed: packed samples change each other's outputs (max relative diff {worst:.2e})",
            hint="this model/attention implementation does not isolate packed samples; set packing=false")
    if loss_gap > tol:
        raise SeedtuneError(f"loss self-check failed: chunked head loss differs from the model's logits by {loss_gap:.2e}",
                            hint="this model's LM head has a transform seedtune does not know; please report it")
    return result
