"""Training maths and steps (DPO, SFT, dense DPO); pure torch, no Ray."""
