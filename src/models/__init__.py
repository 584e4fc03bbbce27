"""Team model packages: one folder per model, each implementing `modelops.modelapi`."""
