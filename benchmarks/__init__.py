"""Speed and memory of every chapter and training run, written to benchmarks/report.{md,json}."""
