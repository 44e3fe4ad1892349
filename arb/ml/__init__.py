"""Learned execution-success model: dataset building, fitting, MLflow registry and the retrain use-case.

Only this package imports mlflow (and only inside ``arb.ml.registry`` / ``arb.ml.train``); the engine never does.
"""
