"""Hand-written ``nn.Module`` twins of ``torch.nn`` (filled op by op; see ``c147.layers``)."""

__all__: list[str] = []
