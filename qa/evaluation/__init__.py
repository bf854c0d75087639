"""Measurement: the official CMRC 2018 metric, question sets, evaluation and benchmarks."""
