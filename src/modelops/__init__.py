"""modelops: GitOps CI/CD for ML models.

Heavy libraries (mlflow, torch, scikit-learn, pandas, pandera, boto3) are
imported inside the functions that need them, so `modelops --help` stays fast.
"""

__version__ = "0.1.0"
