"""JAX reference implementations for the chapters of 'Policy Parametrization Methods'.

One public function per algorithm box of the book; its docstring names the box.
"""
