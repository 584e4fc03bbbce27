"""GitHub settings as code: `github setup`, `github doctor` and the one-comment-per-model poster."""
