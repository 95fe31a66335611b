"""Speed and memory of every chapter and training run, and our runs beside the peers', in benchmarks/report.{md,json}."""
