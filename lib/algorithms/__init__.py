"""The algorithms of the chapters, one module or package per chapter (20-26); none imports another."""
