"""factsurv: survival analysis of fact learning during fine-tuning."""
__version__ = "0.1.0"
