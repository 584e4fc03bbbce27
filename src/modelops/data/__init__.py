"""A model's data, one module per job.

- `read`: the file a command reads (local or `s3://`), as a frame, and its digests;
- `checks`: the pandera schema run, every failure grouped by column and check;
- `split`: the deterministic train/test split (scikit-learn) and the leakage check;
- `profile`: rows, columns, missing values and class balance;
- `datatest`: `run_data_test`, the `modelops data-test` command, all of the above at once.
"""
