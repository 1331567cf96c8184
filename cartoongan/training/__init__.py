"""Training and fine-tuning the CartoonGAN family."""
